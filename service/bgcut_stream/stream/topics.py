"""Create the service's topics when missing (jobs, results, upload cache, dead letters)."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from bgcut_stream.stream.exceptions import DLQ_REASONS
from bgcut_stream.stream.settings import StreamSettings


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
    return created
