"""The consumer thread: poll, schedule jobs onto the asyncio loop, pause/resume, commit.

librdkafka objects are used from this thread only. Jobs run as coroutines on the service's
event loop and hand back an Outcome (the records to publish). Records and offsets are committed
together, in offset order per partition, up to the highest contiguous finished offset, by the
Committer (one transaction in exactly-once mode).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from bgcut_stream.observability.metrics import StreamMetrics
from bgcut_stream.stream.committer import CommitFailedError, Committer
from bgcut_stream.stream.outcome import Outcome, OutRecord
from bgcut_stream.stream.partitions import PartitionWork, coordinates
from bgcut_stream.stream.settings import StreamSettings

log = structlog.get_logger(__name__)
JobFactory = Callable[[Message], Coroutine[Any, Any, Outcome]]
LAG_INTERVAL_S = 5.0
Key = tuple[str, int]


class ConsumerLoop(threading.Thread):
    """Owns the Kafka consumer; ``stop()`` drains in-flight jobs within the drain deadline."""

    def __init__(
        self,
        *,
        settings: StreamSettings,
        new_producer: Callable[[], Producer],
        loop: asyncio.AbstractEventLoop,
        job: JobFactory,
        metrics: StreamMetrics,
        paused: Callable[[], bool],
        on_dropped: Callable[[list[OutRecord]], None] = lambda _records: None,
    ) -> None:
        super().__init__(name="kafka-consumer", daemon=True)
        self.settings = settings
        self.loop = loop
        self.job = job
        self.metrics = metrics
        self.auth_paused = paused
        self.on_dropped = on_dropped  # finished jobs whose records will never be committed here
        self.consumer = Consumer(
            settings.kafka(
                **{
                    "group.id": settings.group_id,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "isolation.level": "read_committed",
                    "partition.assignment.strategy": "cooperative-sticky",
                    "max.poll.interval.ms": 300_000,
                    "session.timeout.ms": int(settings.session_timeout_s * 1000),
                }
            )
        )
        self.committer = Committer(
            new_producer,
            self.consumer,
            exactly_once=settings.delivery == "exactly-once",
            on_replaced=metrics.producer_replacements.inc,
        )
        self.work: dict[Key, PartitionWork] = {}
        self.futures: dict[tuple[str, int, int], concurrent.futures.Future[Outcome]] = {}
        self.completions: queue.SimpleQueue[tuple[str, int, int, Outcome | None]] = (
            queue.SimpleQueue()
        )
        # a batch that failed to commit, per partition: its records and the position after them
        self._pending: dict[Key, tuple[list[OutRecord], int]] = {}
        self._stopping = threading.Event()
        self._all_paused = False
        self._last_commit = 0.0
        self._last_lag = 0.0
        self.running = threading.Event()
        self.error: BaseException | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the thread to drain and exit."""
        self._stopping.set()

    def run(self) -> None:
        """Poll until stopped, then drain, commit and close."""
        try:
            self.committer.start()
            self.consumer.subscribe(
                [self.settings.jobs_topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            self.running.set()
            while not self._stopping.is_set():
                self._tick()
            self._drain(list(self.work), self.settings.drain_timeout_s)
        except BaseException as exc:
            self.error = exc
            log.exception("consumer_loop_failed")
        finally:
            self.running.clear()
            self.consumer.close()

    def _tick(self) -> None:
        self.committer.producer.poll(0)
        self._collect()
        self._apply_auth_pause()
        room = self.settings.max_in_flight - len(self.futures)
        if not self._all_paused and room > 0:
            for msg in self.consumer.consume(num_messages=min(500, room * 4), timeout=0.05):
                self._accept(msg)
        else:
            time.sleep(0.05)
            # Polling keeps us within max.poll.interval.ms; whatever it returns is buffered
            # (never dropped: that would commit past a job nobody ran), pausing its partition.
            for msg in self.consumer.consume(num_messages=1, timeout=0):
                self._accept(msg)
        self._dispatch()
        self._maybe_commit()
        self._maybe_report_lag()

    # --- intake and scheduling -----------------------------------------------------------
    def _accept(self, msg: Message) -> None:
        error = msg.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("consume_error", error=str(error))
            return
        topic, partition, _ = coordinates(msg)
        work = self.work.get((topic, partition))
        if work is None:  # a record of a partition revoked meanwhile
            return
        work.buffered.append(msg)
        if len(work.buffered) >= self.settings.partition_buffer and not work.paused:
            self.consumer.pause([TopicPartition(work.topic, work.partition)])
            work.paused = True

    def _dispatch(self) -> None:
        for work in self.work.values():
            while len(self.futures) < self.settings.max_in_flight:
                msg = work.next_startable(
                    self.settings.max_in_flight_per_partition, self.settings.ordering
                )
                if msg is None:
                    break
                self._start(work, msg)
            if (
                work.paused
                and not self._all_paused
                and len(work.buffered) <= self.settings.partition_buffer // 2
            ):
                self.consumer.resume([TopicPartition(work.topic, work.partition)])
                work.paused = False
        self.metrics.in_flight.set(len(self.futures))

    def _start(self, work: PartitionWork, msg: Message) -> None:
        work.started(msg)
        key = coordinates(msg)
        future = asyncio.run_coroutine_threadsafe(self.job(msg), self.loop)
        self.futures[key] = future

        def done(f: concurrent.futures.Future[Outcome]) -> None:
            outcome = None
            if not f.cancelled():
                if f.exception() is not None:
                    log.error(
                        "job_crashed",
                        topic=key[0],
                        partition=key[1],
                        offset=key[2],
                        error=repr(f.exception()),
                    )
                else:
                    outcome = f.result()
            self.completions.put((*key, outcome))

        future.add_done_callback(done)

    def _collect(self) -> None:
        while True:
            try:
                topic, partition, offset, outcome = self.completions.get_nowait()
            except queue.Empty:
                return
            self.futures.pop((topic, partition, offset), None)
            work = self.work.get((topic, partition))
            if work is not None:
                work.finished(offset, outcome)
            elif outcome is not None:  # finished after its partition left: never committed here
                self.on_dropped(list(outcome.records))

    # --- pausing on 401 ------------------------------------------------------------------
    def _apply_auth_pause(self) -> None:
        want = self.auth_paused()
        if want == self._all_paused:
            return
        if want:
            self.consumer.pause([TopicPartition(w.topic, w.partition) for w in self.work.values()])
        else:
            self.consumer.resume(
                [TopicPartition(w.topic, w.partition) for w in self.work.values() if not w.paused]
            )
        self._all_paused = want

    # --- publishing and offsets -----------------------------------------------------------
    def _commit(self, keys: list[Key]) -> None:
        """Publish and commit whatever finished contiguously in ``keys``.

        A batch that failed is retried alone, before anything newer, so that its outcome can
        be checked against the group's committed offsets (see ``Committer.commit``).
        """
        if self._pending:
            retried = sorted(self._pending.items())
            retried_offsets = [TopicPartition(t, p, pos) for (t, p), (_, pos) in retried]
            try:
                self.committer.commit(
                    [r for _, (batch, _) in retried for r in batch], retried_offsets, retry=True
                )
            except CommitFailedError:
                return
            self._pending.clear()
            self._committed(retried_offsets)
        batches: dict[Key, tuple[list[OutRecord], int]] = {}
        for key in keys:
            work = self.work.get(key)
            if work is None:
                continue
            position, ready = work.take_ready()
            if position is not None:
                batches[key] = (ready, position)
        if not batches:
            return
        offsets = [TopicPartition(t, p, position) for (t, p), (_, position) in batches.items()]
        try:
            self.committer.commit([r for batch, _ in batches.values() for r in batch], offsets)
        except CommitFailedError:
            self._pending = batches  # retried on the next tick, before newer work
            return
        self._committed(offsets)

    def _committed(self, offsets: list[TopicPartition]) -> None:
        for tp in offsets:
            self.metrics.committed.labels(tp.topic, str(tp.partition)).set(tp.offset)

    def _maybe_commit(self) -> None:
        now = time.monotonic()
        if now - self._last_commit < self.settings.commit_interval_s:
            return
        self._last_commit = now
        self._commit(list(self.work))

    def _maybe_report_lag(self) -> None:
        now = time.monotonic()
        if now - self._last_lag < LAG_INTERVAL_S or not self.work:
            return
        self._last_lag = now
        try:
            positions = self.consumer.position(
                [TopicPartition(w.topic, w.partition) for w in self.work.values()]
            )
            for tp in positions:
                _, high = self.consumer.get_watermark_offsets(tp, timeout=1, cached=False)
                lag = high - tp.offset if tp.offset >= 0 else high
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, lag))
        except Exception as exc:  # noqa: BLE001 - lag is best effort
            log.debug("lag_unavailable", error=str(exc))

    # --- rebalances and shutdown -----------------------------------------------------------
    def _drain(self, keys: list[Key], timeout_s: float) -> None:
        """Stop starting jobs of ``keys``, wait for theirs up to the deadline, commit, forget."""
        for key in keys:
            if key in self.work:
                self.work[key].buffered.clear()
        deadline = time.monotonic() + timeout_s
        pending = [k for k in self.futures if (k[0], k[1]) in keys]
        while time.monotonic() < deadline and any(k in self.futures for k in pending):
            self.committer.producer.poll(0.05)
            self._collect()
        abandoned = [k for k in pending if k in self.futures]
        for job_key in abandoned:
            self.futures[job_key].cancel()
        if abandoned:
            log.warning(
                "drain_deadline_abandoned_jobs",
                count=len(abandoned),
                offsets=[f"{t}/{p}@{o}" for t, p, o in abandoned],
            )
            self._wait_cancelled(abandoned)
        self._collect()
        try:
            self._commit(keys)
        except Exception as exc:  # noqa: BLE001 - a lost partition cannot be committed
            log.warning("commit_on_drain_failed", error=str(exc))
        self._forget(keys)

    def _wait_cancelled(self, keys: list[tuple[str, int, int]]) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(k in self.futures for k in keys):
            self._collect()
            time.sleep(0.01)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.work[(tp.topic, tp.partition)] = PartitionWork(tp.topic, tp.partition)
        log.info("partitions_assigned", partitions=[tp.partition for tp in partitions])
        if not partitions:
            return
        consumer.incremental_assign(partitions)
        # librdkafka keeps a partition's pause flag across revoke and re-assign: a partition
        # paused for backpressure when it left would never fetch again. Start from our state.
        if self._all_paused:
            consumer.pause(partitions)
        else:
            consumer.resume(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        log.info("partitions_revoked", partitions=[tp.partition for tp in partitions])
        self._drain(keys, self.settings.drain_timeout_s)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        log.warning("partitions_lost", partitions=[tp.partition for tp in partitions])
        for job_key in [k for k in self.futures if (k[0], k[1]) in keys]:
            self.futures[job_key].cancel()
        self._forget(keys)

    def _forget(self, keys: list[Key]) -> None:
        """Drop leaving partitions' state; their uncommitted jobs will run again elsewhere."""
        dropped: list[OutRecord] = []
        for key in keys:
            batch = self._pending.pop(key, None)
            if batch is not None:
                log.warning("uncommitted_jobs_will_rerun", partition=key[1], position=batch[1])
                dropped += batch[0]
            work = self.work.pop(key, None)
            if work is not None:
                dropped += work.drop_finished()
        if dropped:
            self.on_dropped(dropped)
