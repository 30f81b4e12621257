"""Publish finished jobs' records and commit their offsets, together.

exactly-once: one Kafka transaction holds the results, dead letters, done markers and the
consumed offsets (``send_offsets_to_transaction`` with the group metadata, so a zombie
instance from an older generation is fenced). read_committed consumers see each job's terminal
event once. at-least-once: produce, flush, then commit offsets; a crash between the two
republishes.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from bgcut_stream.stream.outcome import OutRecord

log = structlog.get_logger(__name__)
TXN_TIMEOUT_S = 30.0


class CommitFailedError(Exception):
    """The batch was not committed; its jobs will be processed again by whoever owns them."""


class FencedError(Exception):
    """Another instance took over this transactional id or generation: this one must stop."""


class Committer:
    """Commits batches of records with their offsets: atomically, or in order (at-least-once)."""

    def __init__(self, producer: Producer, consumer: Consumer, *, exactly_once: bool) -> None:
        self.producer = producer
        self.consumer = consumer
        self.exactly_once = exactly_once

    def start(self) -> None:
        """Register the transactional id (fencing older producers with the same id)."""
        if self.exactly_once:
            self.producer.init_transactions(TXN_TIMEOUT_S)

    def _produce(self, records: Sequence[OutRecord]) -> None:
        for record in records:
            while True:
                try:
                    self.producer.produce(
                        record.topic,
                        key=record.key,
                        value=record.value,
                        headers=list(record.headers or []),
                    )
                    break
                except BufferError:
                    self.producer.poll(0.1)

    def commit(self, records: Sequence[OutRecord], offsets: list[TopicPartition]) -> None:
        """Publish ``records`` and commit ``offsets`` as one unit (or raise)."""
        if not offsets:
            return
        if not self.exactly_once:
            self._produce(records)
            if self.producer.flush(TXN_TIMEOUT_S):
                raise CommitFailedError("records not acknowledged in time; offsets not committed")
            self.consumer.commit(offsets=offsets, asynchronous=False)
            return
        try:
            self.producer.begin_transaction()
            self._produce(records)
            self.producer.send_offsets_to_transaction(
                offsets, self.consumer.consumer_group_metadata(), TXN_TIMEOUT_S
            )
            self._commit_transaction()
        except KafkaException as exc:
            self._recover(exc)

    def _commit_transaction(self) -> None:
        while True:
            try:
                self.producer.commit_transaction(TXN_TIMEOUT_S)
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if not error.retriable():
                    raise
            else:
                return

    def _recover(self, exc: KafkaException) -> None:
        error: KafkaError = exc.args[0]
        if error.fatal() or error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED):
            raise FencedError(str(error)) from exc
        if error.txn_requires_abort():
            try:
                self.producer.abort_transaction(TXN_TIMEOUT_S)
            except KafkaException as abort_exc:
                raise FencedError(f"abort failed: {abort_exc}") from abort_exc
        log.warning("transaction_not_committed", error=str(error))
        raise CommitFailedError(str(error)) from exc
