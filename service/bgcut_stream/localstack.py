"""The local stack shared by ``bgcut-stream demo``, the benchmarks and the tests.

A free port, our BackgroundCut server as a process, a Kafka broker (``$KAFKA_BOOTSTRAP_SERVERS``
or the embedded Apache Kafka), waiting until an HTTP endpoint answers 200, and until a consumer
group has settled with its members holding partitions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
from confluent_kafka.admin import AdminClient

from bgcut_stream.kafka_local import BrokerConfig, LocalBroker
from bgcut_stream.kafka_local.broker import free_port, port_in_use

__all__ = [
    "KafkaEndpoint",
    "ServerProcess",
    "StackError",
    "free_port",
    "kafka",
    "server_process",
    "wait_for_group",
    "wait_http_ok",
]


class StackError(RuntimeError):
    """A part of the local stack did not start."""


def wait_http_ok(
    url: str,
    proc: subprocess.Popen[bytes] | None = None,
    timeout_s: float = 60,
    what: str = "server",
) -> None:
    """Poll ``url`` until it answers 200; fail early when ``proc`` exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what} exited with {proc.returncode} before {url} answered")
        if time.monotonic() > deadline:
            raise StackError(f"{what} did not answer {url} within {timeout_s:.0f}s")
        time.sleep(0.1)


def wait_for_group(bootstrap: str, group: str, members: int, timeout_s: float = 120) -> None:
    """Until ``group`` is stable with ``members`` members that all hold partitions."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        description = admin.describe_consumer_groups([group])[group].result(10)
        assigned = [m for m in description.members if m.assignment.topic_partitions]
        if str(description.state).endswith("STABLE") and len(assigned) == members:
            return
        time.sleep(0.5)
    raise StackError(f"group {group} did not settle with {members} members in {timeout_s:.0f}s")


@dataclass(frozen=True)
class ServerProcess:
    """A running ``bgcut-stream server``: its base URL and process."""

    url: str
    proc: subprocess.Popen[bytes]


@contextmanager
def server_process(
    data_dir: Path,
    *,
    keys: str,
    command: Sequence[str] = (sys.executable, "-m", "bgcut_stream"),
    log: Path | None = None,
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
    timeout_s: float = 60,
) -> Iterator[ServerProcess]:
    """Our server on a free 127.0.0.1 port until the block ends (``keys``: "key:credits,...")."""
    port = free_port()
    full_env = {**os.environ, "BGCUT_SERVER_KEYS": keys, **(env or {})}
    out: IO[bytes] | int = log.open("ab") if log is not None else subprocess.DEVNULL
    cmd = [*command, "server", "--port", str(port), "--data-dir", str(data_dir), *args]
    proc = subprocess.Popen(cmd, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(f"{url}/healthz", proc, timeout_s, what="bgcut-stream server")
        yield ServerProcess(url, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if not isinstance(out, int):
            out.close()


@dataclass(frozen=True)
class KafkaEndpoint:
    """Bootstrap servers and where they came from (for the user)."""

    bootstrap: str
    origin: str


@contextmanager
def kafka(state_dir: Path, port: int = 9092) -> Iterator[KafkaEndpoint]:
    """$KAFKA_BOOTSTRAP_SERVERS, a broker already running in ``state_dir``, or a new one.

    A broker started here is stopped on exit; one found running is left alone.
    """
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield KafkaEndpoint(external, "KAFKA_BOOTSTRAP_SERVERS")
        return
    broker = LocalBroker(
        BrokerConfig(state_dir=state_dir, port=0 if port and port_in_use(port) else port)
    )
    running = broker.bootstrap_servers()
    bootstrap = running or broker.up()
    try:
        yield KafkaEndpoint(bootstrap, f"Apache Kafka (KRaft), logs in {broker.log_file}")
    finally:
        if running is None:
            broker.down()
