"""Run the stream service against the test broker and server, and read what it published."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Message

from bgcut_stream.client.settings import ClientSettings
from bgcut_stream.events.codec import AvroCodec
from bgcut_stream.events.jobs import ImageJob
from bgcut_stream.events.results import ImageResult
from bgcut_stream.events.schemas import IMAGE_RESULT, bundled
from bgcut_stream.localstack import free_port
from bgcut_stream.stream.jobs_producer import JobPublisher
from bgcut_stream.stream.service import StreamService
from bgcut_stream.stream.settings import StreamSettings
from bgcut_stream.stream.topics import ensure_topics
from tests.support.kafka import consume_n


@dataclass
class StreamHarness:
    """Unique topics for one test, a publisher, and readers for results and dead letters."""

    bootstrap: str
    api_url: str
    artifacts: Path
    api_key: str = "test-key"
    partitions: int = 3
    overrides: dict[str, Any] = field(default_factory=dict)
    client_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        prefix = f"t{uuid.uuid4().hex[:10]}"
        fields: dict[str, Any] = {
            "kafka_bootstrap_servers": self.bootstrap,
            "jobs_topic": f"{prefix}.jobs",
            "results_topic": f"{prefix}.results",
            "uploads_topic": f"{prefix}.uploads",
            "group_id": f"{prefix}-group",
            "artifact_store": f"file://{self.artifacts}",
            "metrics_port": 0,
            "drain_timeout_s": 20,
            "auth_retry_interval_s": 0.3,
            "job_retry_backoff_s": 0.05,
        }
        self.settings = StreamSettings(**{**fields, **self.overrides})
        self.client_settings = ClientSettings(
            base_url=self.api_url,
            api_key=self.api_key,
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
            **self.client_overrides,
        )
        ensure_topics(self.settings, partitions=self.partitions)
        self.publisher = JobPublisher(self.settings)
        self.codec = AvroCodec(bundled(IMAGE_RESULT))

    def publish(self, *jobs: ImageJob, key: str | None = None) -> None:
        for job in jobs:
            self.publisher.send(job, key=key)
        self.publisher.flush()

    def publish_raw(self, value: bytes, key: str | None = None) -> None:
        self.publisher.send_raw(value, key=key)
        self.publisher.flush()

    def results(self, count: int, timeout_s: float = 90) -> list[ImageResult]:
        """The first ``count`` results (fails the test if fewer arrive in time)."""
        messages = consume_n(
            self.bootstrap, self.settings.results_topic, count, timeout_s=timeout_s
        )
        assert len(messages) >= count, f"only {len(messages)} of {count} results arrived"
        return [ImageResult.from_record(self.codec.decode(m.value())) for m in messages]

    def all_results(self, idle_s: float = 3.0) -> list[ImageResult]:
        """Every result currently on the topic (reads until idle)."""
        messages = consume_n(self.bootstrap, self.settings.results_topic, 10**9, timeout_s=idle_s)
        return [ImageResult.from_record(self.codec.decode(m.value())) for m in messages]

    def dead_letters(self, reason: str, idle_s: float = 2.0) -> list[Message]:
        return consume_n(self.bootstrap, self.settings.dlq_topic(reason), 10**9, timeout_s=idle_s)

    @contextmanager
    def running(self) -> Iterator[StreamService]:
        """The service in this process, on its own event loop thread."""
        service = StreamService(self.settings, self.client_settings)
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        errors: list[BaseException] = []

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(service.run(stop))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
                errors.append(exc)

        thread = threading.Thread(target=main, daemon=True)
        thread.start()
        try:
            yield service
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=60)
            loop.close()
        assert not thread.is_alive(), "service did not stop"
        assert not errors, errors

    def env(self, metrics_port: int) -> dict[str, str]:
        """Environment for running the service as a process with this harness's settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BGCUT_")}
        s = self.settings
        env.update(
            {
                "BGCUT_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "BGCUT_JOBS_TOPIC": s.jobs_topic,
                "BGCUT_RESULTS_TOPIC": s.results_topic,
                "BGCUT_UPLOADS_TOPIC": s.uploads_topic,
                "BGCUT_GROUP_ID": s.group_id,
                "BGCUT_ARTIFACT_STORE": s.artifact_store,
                "BGCUT_METRICS_PORT": str(metrics_port),
                "BGCUT_METRICS_HOST": "127.0.0.1",
                "BGCUT_DRAIN_TIMEOUT_S": str(s.drain_timeout_s),
                "BGCUT_ORDERING": s.ordering,
                "BGCUT_MAX_IN_FLIGHT": str(s.max_in_flight),
                "BGCUT_PARTITION_BUFFER": str(s.partition_buffer),
                "BGCUT_DELIVERY": s.delivery,
                "BGCUT_JOB_RETRY_BACKOFF_S": str(s.job_retry_backoff_s),
                "BGCUT_API_BASE_URL": self.api_url,
                "BGCUT_API_API_KEY": self.api_key,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if s.max_in_flight_per_partition is not None:  # else the process derives it, as here
            env["BGCUT_MAX_IN_FLIGHT_PER_PARTITION"] = str(s.max_in_flight_per_partition)
        return env

    def spawn(self, log: Path, **extra_env: str) -> tuple[subprocess.Popen[bytes], int]:
        """Start ``bgcut-stream run`` as a real process; returns it and its metrics port."""
        port = free_port()
        handle = log.open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bgcut_stream", "run"],
            env={**self.env(port), **extra_env},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        wait_ready(port, proc)
        return proc, port


def wait_ready(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout_s: float = 60
) -> None:
    """Poll /readyz until 200 (fails if the process dies first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"service exited with {proc.returncode} before ready")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("service not ready in time")


def metric(port: int, line_prefix: str) -> float:
    """The value of the first metrics line starting with ``line_prefix`` (0 when absent)."""
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines():
        if line.startswith(line_prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def poll_until(check: Any, timeout_s: float = 30, message: str = "condition") -> None:
    """Poll ``check()`` until truthy, failing after the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{message} not reached in {timeout_s}s")
