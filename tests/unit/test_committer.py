"""The committer's recovery logic: a hung transactional call, and a retry that already landed.

Pure logic over fakes of the producer and consumer calls it makes; the real broker behaviour is
covered by tests/chaos (broker stop + restart) and tests/integration/test_stream_service.py.
"""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from bgcut_stream.stream.committer import CommitFailedError, Committer, FencedError
from bgcut_stream.stream.outcome import OutRecord

OFFSETS = [TopicPartition("jobs", 0, 5)]
RECORDS = [OutRecord("results", b"k", b"v")]
# the calls of a producer that registered, then committed one batch in one transaction
REGISTERED_AND_COMMITTED = ["init", "begin", "produce:results", "send_offsets", "commit"]


class FakeProducer:
    """Records the transactional calls; ``hang`` makes send_offsets block like librdkafka#5456."""

    def __init__(self, *, hang: bool = False, commit_error: KafkaError | None = None) -> None:
        self.calls: list[str] = []
        self.hang = hang
        self.hang_init = False
        self.commit_error = commit_error
        self.release = threading.Event()

    def init_transactions(self, _timeout: float) -> None:
        self.calls.append("init")
        if self.hang_init:
            self.hang_init = False
            self.release.wait(30)

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def produce(self, topic: str, **_: Any) -> None:
        self.calls.append(f"produce:{topic}")

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float) -> int:
        self.calls.append("flush")
        return 0

    def send_offsets_to_transaction(self, *_: Any) -> None:
        self.calls.append("send_offsets")
        if self.hang:
            self.release.wait(30)

    def commit_transaction(self, _timeout: float) -> None:
        self.calls.append("commit")
        if self.commit_error is not None:
            raise KafkaException(self.commit_error)

    def abort_transaction(self, _timeout: float) -> None:
        self.calls.append("abort")


class FakeConsumer:
    """Answers committed() from a dict and hands out a group metadata token."""

    def __init__(self) -> None:
        self.committed_offsets: dict[tuple[str, int], int] = {}
        self.failures: list[KafkaError] = []  # raised, in turn, by committed() and commit()
        self.commits = 0

    def _maybe_fail(self) -> None:
        if self.failures:
            raise KafkaException(self.failures.pop(0))

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self._maybe_fail()
        self.commits += 1

    def consumer_group_metadata(self) -> object:
        return object()

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self._maybe_fail()
        return [
            TopicPartition(
                p.topic, p.partition, self.committed_offsets.get((p.topic, p.partition), -1001)
            )
            for p in partitions
        ]


def committer(producers: list[FakeProducer], consumer: FakeConsumer) -> Committer:
    queue = iter(producers)
    result = Committer(
        lambda: cast(Producer, next(queue)),
        cast(Consumer, consumer),
        exactly_once=True,
        call_timeout_s=0.1,
    )
    result.start()
    return result


def test_a_hung_send_offsets_replaces_the_producer_and_commits_with_the_new_one() -> None:
    """A call hung past its timeout fails the batch; the retry runs on a fresh producer."""
    stuck, fresh = FakeProducer(hang=True), FakeProducer()
    consumer = FakeConsumer()
    subject = committer([stuck, fresh], consumer)
    with pytest.raises(CommitFailedError, match="send_offsets_to_transaction did not return"):
        subject.commit(RECORDS, OFFSETS)
    subject.commit(RECORDS, OFFSETS, retry=True)
    stuck.release.set()
    assert subject.producer is fresh
    assert subject.replacements == 1
    assert fresh.calls == REGISTERED_AND_COMMITTED


def test_a_retried_batch_whose_offsets_landed_is_not_published_again() -> None:
    """When the group's committed offsets already cover a retried batch, nothing is re-sent."""
    producer = FakeProducer()
    consumer = FakeConsumer()
    subject = committer([producer], consumer)
    consumer.committed_offsets[("jobs", 0)] = 5
    subject.commit(RECORDS, OFFSETS, retry=True)
    assert producer.calls == ["init"]


def test_a_retried_batch_that_did_not_land_is_published() -> None:
    """Committed offsets behind the batch: the retry publishes it in a new transaction."""
    producer = FakeProducer()
    consumer = FakeConsumer()
    subject = committer([producer], consumer)
    consumer.committed_offsets[("jobs", 0)] = 3
    subject.commit(RECORDS, OFFSETS, retry=True)
    assert producer.calls == REGISTERED_AND_COMMITTED


def test_an_abortable_commit_error_aborts_and_asks_for_a_retry() -> None:
    """An abortable error aborts the open transaction and raises CommitFailedError."""
    error = KafkaError(KafkaError._TIMED_OUT, "timed out", txn_requires_abort=True)
    producer = FakeProducer(commit_error=error)
    subject = committer([producer], FakeConsumer())
    with pytest.raises(CommitFailedError, match="timed out"):
        subject.commit(RECORDS, OFFSETS)
    assert producer.calls[-1] == "abort"


def test_a_fenced_producer_stops_the_instance() -> None:
    """A fatal error (fenced by a newer instance) raises FencedError, with no retry."""
    error = KafkaError(KafkaError._FENCED, "fenced", fatal=True)
    subject = committer([FakeProducer(commit_error=error)], FakeConsumer())
    with pytest.raises(FencedError, match="fenced"):
        subject.commit(RECORDS, OFFSETS)


def test_unknown_committed_offsets_fail_the_retry_without_replacing_the_producer() -> None:
    """A coordinator that cannot answer yet means "try later", not a stuck producer."""
    producer = FakeProducer()
    consumer = FakeConsumer()
    subject = committer([producer], consumer)
    consumer.failures.append(KafkaError(KafkaError._TIMED_OUT, "coordinator down"))
    with pytest.raises(CommitFailedError, match="committed offsets unknown"):
        subject.commit(RECORDS, OFFSETS, retry=True)
    subject.commit(RECORDS, OFFSETS, retry=True)
    assert subject.producer is producer
    assert subject.replacements == 0
    assert producer.calls == REGISTERED_AND_COMMITTED


def test_at_least_once_retries_only_the_offset_commit_of_an_acknowledged_batch() -> None:
    """at-least-once: records flushed, offset commit failed; the retry does not republish."""
    producer = FakeProducer()
    consumer = FakeConsumer()
    subject = Committer(
        lambda: cast(Producer, producer), cast(Consumer, consumer), exactly_once=False
    )
    consumer.failures.append(KafkaError(KafkaError._TRANSPORT, "broker down"))
    with pytest.raises(CommitFailedError, match="offset commit failed"):
        subject.commit(RECORDS, OFFSETS)
    subject.commit(RECORDS, OFFSETS, retry=True)
    assert producer.calls == ["produce:results", "flush"]
    assert consumer.commits == 1


def test_a_replacement_whose_registration_hangs_is_replaced_again() -> None:
    """init_transactions hanging on the fresh producer fails the batch; the next one commits."""
    stuck, also_stuck, fresh = FakeProducer(hang=True), FakeProducer(), FakeProducer()
    consumer = FakeConsumer()
    subject = committer([stuck, also_stuck, fresh], consumer)
    with pytest.raises(CommitFailedError):
        subject.commit(RECORDS, OFFSETS)
    also_stuck.hang_init = True
    with pytest.raises(CommitFailedError, match="init_transactions did not return"):
        subject.commit(RECORDS, OFFSETS, retry=True)
    subject.commit(RECORDS, OFFSETS, retry=True)
    stuck.release.set()
    also_stuck.release.set()
    assert subject.producer is fresh
    assert subject.replacements == 2
    assert fresh.calls == REGISTERED_AND_COMMITTED
