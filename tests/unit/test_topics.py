"""``stream.topics.await_topic``: a topic just created is waited for, a missing one named."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaException

from bgcut_stream.stream.topics import await_topic


def _meta(*, error: Any = None, leaders: tuple[int, ...] = (1, 1)) -> Any:
    partitions = {i: SimpleNamespace(leader=lead, error=None) for i, lead in enumerate(leaders)}
    return SimpleNamespace(error=error, partitions=partitions)


class _Cluster:
    """Answers metadata requests from a script: unknown, then no leader, then ready."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls = 0

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return SimpleNamespace(topics={} if answer is None else {topic: answer})


def test_waits_until_every_partition_has_a_leader() -> None:
    cluster = _Cluster([None, _meta(error="UNKNOWN_TOPIC"), _meta(leaders=(1, -1)), _meta()])
    meta = await_topic(cluster, "jobs", timeout_s=10)
    assert cluster.calls == 4
    assert set(meta.partitions) == {0, 1}


def test_a_topic_that_never_appears_is_named() -> None:
    with pytest.raises(KafkaException, match="topic jobs is missing"):
        await_topic(_Cluster([None]), "jobs", timeout_s=0.3)
