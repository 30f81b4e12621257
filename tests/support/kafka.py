"""Kafka helpers for tests: one way to get a broker, unique topics, polling with deadlines."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, Message
from confluent_kafka.admin import AdminClient, NewTopic

from bgcut_stream.kafka_local import BrokerConfig, LocalBroker


def docker_engine_answers() -> bool:
    """Tell whether a Docker engine is reachable (testcontainers needs one)."""
    try:
        import docker  # noqa: PLC0415 - imported when used (start-up stays light)

        docker.from_env(timeout=2).ping()
    except Exception:  # noqa: BLE001 - no docker client, no socket, no daemon: all mean "no"
        return False
    return True


@contextmanager
def kafka_cluster(state_dir: Path) -> Iterator[str]:
    """Yield bootstrap servers: $KAFKA_BOOTSTRAP_SERVERS, testcontainers, or a local broker."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    if os.environ.get("BGCUT_TEST_USE_TESTCONTAINERS", "1") == "1" and docker_engine_answers():
        from testcontainers.kafka import KafkaContainer  # noqa: PLC0415 - imported when used (start-up stays light)

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    broker = LocalBroker(BrokerConfig(state_dir=state_dir, port=0))
    bootstrap = broker.up()
    try:
        yield bootstrap
    finally:
        broker.down()


def unique_name(prefix: str) -> str:
    """A topic or group name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topics(bootstrap: str, *names: str, partitions: int = 3, compact: bool = False) -> None:
    """Create topics and wait until the broker has them."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {"cleanup.policy": "compact"} if compact else {}
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=1, config=config) for n in names]
    )
    for future in futures.values():
        future.result(timeout=30)


def consume_n(
    bootstrap: str,
    topic: str,
    count: int,
    *,
    timeout_s: float = 60.0,
    group: str | None = None,
    isolation: str = "read_committed",
) -> list[Message]:
    """Read ``count`` records of ``topic`` from the start, failing once the deadline passes."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group or unique_name("reader"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    consumer.subscribe([topic])
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            got.append(msg)
    finally:
        consumer.close()
    return got
