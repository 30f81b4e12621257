"""Create the service's topics when missing (jobs, results, upload cache, dead letters)."""

from __future__ import annotations

import time
from typing import Any, Protocol

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._metadata import TopicMetadata  # not re-exported in __all__
from confluent_kafka.cimpl import NewTopic

from bgcut_stream.stream.exceptions import DLQ_REASONS
from bgcut_stream.stream.settings import StreamSettings


class _Metadata(Protocol):
    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...


def await_topic(client: _Metadata, topic: str, timeout_s: float = 30.0) -> TopicMetadata:
    """``topic``'s metadata once every partition has a leader.

    A topic just created is accepted by the controller before every broker serves it (its
    metadata says unknown topic or leader not available for a moment); callers that read or
    assign it at once wait here instead of failing. Raises ``KafkaException`` (``missing``)
    when it does not show up in ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        listed = client.list_topics(topic, timeout=max(1.0, remaining))
        meta: TopicMetadata | None = listed.topics.get(topic)
        if (
            meta is not None
            and meta.error is None
            and meta.partitions
            and all(p.leader >= 0 and p.error is None for p in meta.partitions.values())
        ):
            return meta
        if remaining <= 0:
            raise KafkaException(f"topic {topic} is missing")
        time.sleep(min(0.2, max(0.0, remaining)))


def ensure_topics(settings: StreamSettings, partitions: int = 3, replication: int = 1) -> list[str]:
    """Create any missing topic; returns the names created."""
    admin = AdminClient(settings.kafka())
    wanted = {
        settings.jobs_topic: {},
        settings.results_topic: {},
        settings.uploads_topic: {"cleanup.policy": "compact"},
        settings.done_table: {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(int(settings.dedupe_window_s * 1000)),
        },
        **{settings.dlq_topic(r): {} for r in DLQ_REASONS},
    }
    existing = set(admin.list_topics(timeout=30).topics)
    missing = [
        NewTopic(name, num_partitions=partitions, replication_factor=replication, config=config)
        for name, config in wanted.items()
        if name not in existing
    ]
    if not missing:
        return []
    created = []
    for name, future in admin.create_topics(missing).items():
        try:
            future.result(timeout=30)
            created.append(name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    for name in created:
        await_topic(admin, name)
    return created
