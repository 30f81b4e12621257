"""Publish finished jobs' records and commit their offsets, together.

exactly-once: one Kafka transaction holds the results, dead letters, done markers and the
consumed offsets (``send_offsets_to_transaction`` with the group metadata, so a zombie
instance from an older generation is fenced). read_committed consumers see each job's terminal
event once. at-least-once: produce, flush, then commit offsets; a crash between the two
republishes.

Transactional calls run under a watchdog: librdkafka can block in
``send_offsets_to_transaction`` past its timeout after the group coordinator went away
(confluentinc/librdkafka#5456). A wedged producer is abandoned and replaced by a fresh one with
the same ``transactional.id``; its ``init_transactions`` makes the coordinator abort the open
transaction, and the batch is committed again by the new producer.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from bgcut_stream.stream.outcome import OutRecord

log = structlog.get_logger(__name__)
TXN_TIMEOUT_S = 10.0
WATCHDOG_GRACE = 0.5  # of the call timeout, on top of it
COMMIT_RETRIES = 5


class CommitFailedError(Exception):
    """The batch was not committed; its jobs will be processed again by whoever owns them."""


class FencedError(Exception):
    """Another instance took over this transactional id or generation: this one must stop."""


class ProducerWedgedError(Exception):
    """A transactional call outlived its timeout by the watchdog grace: the producer is stuck."""


class Committer:
    """Commits batches of records with their offsets: atomically, or in order (at-least-once)."""

    def __init__(
        self,
        new_producer: Callable[[], Producer],
        consumer: Consumer,
        *,
        exactly_once: bool,
        on_replaced: Callable[[], None] | None = None,
        call_timeout_s: float = TXN_TIMEOUT_S,
    ) -> None:
        self._new_producer = new_producer
        self.producer = new_producer()
        self.consumer = consumer
        self.exactly_once = exactly_once
        self._on_replaced = on_replaced
        self.timeout_s = call_timeout_s
        self._calls = self._executor()
        self._stuck = False  # a call on the current producer never returned
        self._needs_init = False
        self._acked: list[tuple[str, int, int]] | None = None  # at-least-once: flushed batch
        self.replacements = 0

    @staticmethod
    def _executor() -> concurrent.futures.ThreadPoolExecutor:
        return concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="txn-call")

    def start(self) -> None:
        """Register the transactional id (fencing older producers with the same id)."""
        if self.exactly_once:
            self._bounded("init_transactions", self.producer.init_transactions, self.timeout_s)

    def _bounded(self, what: str, call: Callable[..., Any], *args: Any) -> None:
        """Run a blocking transactional call; raise ProducerWedgedError if it never returns."""
        future = self._calls.submit(call, *args)
        try:
            future.result(timeout=self.timeout_s * (1 + WATCHDOG_GRACE))
        except concurrent.futures.TimeoutError:
            raise ProducerWedgedError(what) from None

    def _ensure_ready(self) -> None:
        """Replace a stuck producer (abandoning its blocked call); register the new one."""
        if self._stuck:
            self._calls.shutdown(wait=False)
            self._calls = self._executor()
            self.producer = self._new_producer()
            self._stuck = False
            self._needs_init = True
            self.replacements += 1
            log.warning("transactional_producer_replaced", replacements=self.replacements)
            if self._on_replaced is not None:
                self._on_replaced()
        if self._needs_init:
            self._bounded("init_transactions", self.producer.init_transactions, self.timeout_s)
            self._needs_init = False

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

    def commit(
        self, records: Sequence[OutRecord], offsets: list[TopicPartition], *, retry: bool = False
    ) -> None:
        """Publish ``records`` and commit ``offsets`` as one unit (or raise).

        ``retry``: this batch failed before with an unknown outcome; it is skipped when the
        group's committed offsets show that its transaction landed after all.
        """
        if not offsets:
            return
        if not self.exactly_once:
            self._commit_in_order(records, offsets)
            return
        try:
            self._ensure_ready()
        except ProducerWedgedError as exc:
            raise self._wedged(exc) from exc
        except KafkaException as exc:
            self._recover(exc)
        if retry:
            try:
                landed = self._landed(offsets)
            except KafkaException as exc:
                raise CommitFailedError(f"committed offsets unknown: {exc}") from exc
            if landed:
                log.info("transaction_landed_before_retry", offsets=len(offsets))
                return
        try:
            self.producer.begin_transaction()
            self._produce(records)
            self._bounded(
                "send_offsets_to_transaction",
                self.producer.send_offsets_to_transaction,
                offsets,
                self.consumer.consumer_group_metadata(),
                self.timeout_s,
            )
            self._commit_transaction()
        except ProducerWedgedError as exc:
            raise self._wedged(exc) from exc
        except KafkaException as exc:
            self._recover(exc)

    def _wedged(self, exc: ProducerWedgedError) -> CommitFailedError:
        """Mark the producer for replacement; the batch fails and is retried."""
        self._stuck = True
        log.error("transactional_producer_wedged", call=str(exc))
        return CommitFailedError(f"{exc} did not return; replacing the producer")

    def _commit_in_order(self, records: Sequence[OutRecord], offsets: list[TopicPartition]) -> None:
        """at-least-once: produce and flush, then commit the offsets.

        A batch whose records were acknowledged is not produced again when only its offset
        commit is retried.
        """
        batch = [(o.topic, o.partition, o.offset) for o in offsets]
        if batch != self._acked:
            self._produce(records)
            if self.producer.flush(self.timeout_s):
                raise CommitFailedError("records not acknowledged in time; offsets not committed")
            self._acked = batch
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            raise CommitFailedError(f"offset commit failed: {exc}") from exc
        self._acked = None

    def _landed(self, offsets: list[TopicPartition]) -> bool:
        """Whether the group's committed offsets already cover ``offsets`` (stable reads)."""
        committed = self.consumer.committed(
            [TopicPartition(o.topic, o.partition) for o in offsets], timeout=self.timeout_s
        )
        have = {(c.topic, c.partition): c.offset for c in committed}
        return all(have.get((o.topic, o.partition), -1) >= o.offset for o in offsets)

    def _commit_transaction(self) -> None:
        for attempt in range(1, COMMIT_RETRIES + 1):
            try:
                self._bounded(
                    "commit_transaction", self.producer.commit_transaction, self.timeout_s
                )
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if not error.retriable() or attempt == COMMIT_RETRIES:
                    raise
                log.warning("commit_transaction_retry", attempt=attempt, error=str(error))
            else:
                return

    def _recover(self, exc: KafkaException) -> None:
        error: KafkaError = exc.args[0]
        log.warning(
            "transaction_failed",
            error=str(error),
            fatal=error.fatal(),
            abortable=error.txn_requires_abort(),
            retriable=error.retriable(),
        )
        if error.fatal() or error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED):
            raise FencedError(str(error)) from exc
        if self._needs_init:  # no transaction yet: register again on the next attempt
            raise CommitFailedError(str(error)) from exc
        try:  # leave no transaction open behind
            self._bounded("abort_transaction", self.producer.abort_transaction, self.timeout_s)
        except ProducerWedgedError:
            self._stuck = True
        except KafkaException as abort_exc:
            abort_error: KafkaError = abort_exc.args[0]
            if abort_error.fatal():
                raise FencedError(f"abort failed: {abort_error}") from abort_exc
            # e.g. a commit still in progress: a fresh producer settles it (init_transactions)
            log.warning("abort_transaction_failed", error=str(abort_error))
            self._stuck = True
        raise CommitFailedError(str(error)) from exc
