"""The project's local Apache Kafka broker: start, round-trip, stop, and its failure paths."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from bgcut_stream.kafka_local import BrokerConfig, LocalBroker
from bgcut_stream.kafka_local.broker import HOST
from tests.support.cli import run_cli
from tests.support.kafka import create_topics, unique_name

pytestmark = pytest.mark.integration


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("kafka", *args, env=env, timeout=300)


def test_broker_round_trips_keyed_messages_and_stops_cleanly(tmp_path: Path) -> None:
    """A dedicated broker round-trips 100 keyed messages, commits, and stops leaving no process."""
    broker = LocalBroker(BrokerConfig(state_dir=tmp_path / "kafka", port=0))
    bootstrap = broker.up()
    pid = broker.pid()
    assert pid is not None
    try:
        topic, group = unique_name("roundtrip"), unique_name("group")
        create_topics(bootstrap, topic, partitions=3)
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        sent = {f"key-{i % 10}:{i}" for i in range(100)}
        for i in range(100):
            producer.produce(topic, key=f"key-{i % 10}", value=f"key-{i % 10}:{i}")
        assert producer.flush(30) == 0

        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        received: dict[str, int] = {}
        partitions_by_key: dict[bytes, set[int]] = {}
        for _ in range(400):
            if len(received) == 100:
                break
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            received[msg.value().decode()] = msg.partition()
            partitions_by_key.setdefault(msg.key(), set()).add(msg.partition())
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        consumer.close()

        assert set(received) == sent
        assert all(len(parts) == 1 for parts in partitions_by_key.values()), (
            "a key hopped partitions"
        )
        assert sum(tp.offset for tp in committed) == 100
        assert len(set(received.values())) > 1, "keys were not spread over partitions"
    finally:
        assert broker.down()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert broker.pid() is None


def test_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    """Starting on a port another process holds exits 2 with one actionable line."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _cli("up", "--state-dir", str(tmp_path / "k"), "--port", str(port))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    expected = (
        f"error: port {port} on 127.0.0.1 is already in use: stop the process holding it "
        "or choose another with --port"
    )
    assert lines == [expected]


def test_missing_java_is_a_one_line_error(tmp_path: Path) -> None:
    """Without java on PATH the script exits 2 and says how to get Java or use a cluster."""
    env = {**os.environ, "PATH": str(tmp_path / "empty-bin")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    result = _cli("up", "--state-dir", str(tmp_path / "k"), "--port", "0", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: java not found on PATH: install a Java 17+ runtime")
    assert "KAFKA_BOOTSTRAP_SERVERS" in lines[0]


def test_status_reports_not_running(tmp_path: Path) -> None:
    """`kafka status` exits 1 and says so when no broker runs in the state dir."""
    result = _cli("status", "--state-dir", str(tmp_path / "none"))
    assert result.returncode == 1
    assert result.stdout.strip() == "not running"
