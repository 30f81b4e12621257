"""The consumer thread: poll → ledger → handler → ledger → committer.

One record goes one way: ``consume`` returns it and its partition's ``PartitionLedger`` takes it;
when a slot is free (global cap, per-partition cap, key ordering) the ``JobHandler`` coroutine
runs it on the service's event loop; its ``Outcome`` comes back through a queue into the ledger;
the ledger's finished prefix, with the position derived from the consumed records, goes to the
``Committer`` (one transaction in exactly-once mode). librdkafka objects are used from this
thread only. A few more jobs than there are API slots, overall and per partition, are handed to
the event loop, so a finishing job's slot is taken at once there; finishing jobs also wake this
thread (at once when the loop runs short of handed-over jobs, else every few), which hands over
the next records without waiting for a timer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import structlog
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from bgcut_stream.observability.metrics import StreamMetrics
from bgcut_stream.stream.committer import CommitFailedError, Committer
from bgcut_stream.stream.ledger import PartitionLedger, offset_of
from bgcut_stream.stream.outcome import Outcome, OutRecord
from bgcut_stream.stream.pausing import AUTH, BACKPRESSURE, PausingManager
from bgcut_stream.stream.settings import StreamSettings

log = structlog.get_logger(__name__)
POLL_S = 0.05  # shortest wait for records or a finished job (the longest: until a commit is due)
MAX_WAIT_S = 0.25  # ... but no longer than this (how long stop() may wait out a poll)
LAG_INTERVAL_S = 5.0
# A commit due this soon is made now: a poll's timeout counts in whole milliseconds and may end
# just short of the commit it waited for, which then cost a second tick after ``POLL_S``.
COMMIT_EARLY_S = 0.01
PREFETCH = 0.25  # jobs handed to the event loop beyond the slots, as a share of them
Key = tuple[str, int]
JobKey = tuple[str, int, int]


def _prefetch(slots: int) -> int:
    """Jobs handed over beyond ``slots``: PREFETCH of them, one at least."""
    return max(1, int(slots * PREFETCH))


class Handler(Protocol):
    """The job handler as the loop sees it."""

    def __call__(self, msg: Message) -> Coroutine[Any, Any, Outcome]: ...  # noqa: D102 - protocol member, described by the class
    def crashed(self, msg: Message, exc: BaseException) -> Outcome: ...  # noqa: D102 - protocol member, described by the class


class DroppedSink(Protocol):
    """Told about finished outcomes that will never be committed here."""

    def dropped(self, records: list[OutRecord]) -> None: ...  # noqa: D102 - protocol member, described by the class


class ConsumerLoop(threading.Thread):
    """Owns the Kafka consumer; ``stop()`` drains in-flight jobs within the drain deadline."""

    def __init__(
        self,
        *,
        settings: StreamSettings,
        new_producer: Callable[[], Producer],
        loop: asyncio.AbstractEventLoop,
        handler: Handler,
        metrics: StreamMetrics,
        auth_paused: Callable[[], bool],
        dropped: DroppedSink,
    ) -> None:
        super().__init__(name="kafka-consumer", daemon=True)
        self.settings = settings
        self.loop = loop
        self.handler = handler
        self.metrics = metrics
        self.auth_paused = auth_paused
        self.dropped = dropped
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
        self.pausing = PausingManager(self.consumer)
        # The handler holds one of ``max_in_flight`` API slots while it calls the API; up to
        # PREFETCH more jobs are handed over, waiting for a slot on the event loop, so a
        # finishing job's slot is taken at once, without a round trip through this thread.
        prefetch = _prefetch(settings.max_in_flight)
        self._dispatch_limit = settings.max_in_flight + prefetch
        # a finishing job wakes this thread once this many handed-over jobs are missing from
        # the event loop (each wake-up is a full tick, contending for the GIL with the loop)
        self._wake_deficit = max(1, prefetch // 4)
        # the same per partition: the handler holds a partition slot around the API work too,
        # so a finishing job's successor in its partition starts without this thread
        per_partition = settings.per_partition_cap
        self._partition_limit = per_partition + _prefetch(per_partition)
        self.ledgers: dict[Key, PartitionLedger] = {}
        self._rotation = 0  # which partition's records are handed over first next time
        self.futures: dict[JobKey, concurrent.futures.Future[Outcome]] = {}
        self._completions: queue.SimpleQueue[tuple[JobKey, Outcome | None]] = queue.SimpleQueue()
        self._wake = threading.Event()
        # a batch that failed to commit, per partition: its records and the position after them
        self._pending: dict[Key, tuple[list[OutRecord], int]] = {}
        self._stopping = threading.Event()
        self._last_commit = 0.0
        self._last_lag = 0.0
        self.running = threading.Event()
        self.error: BaseException | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the thread to drain and exit."""
        self._stopping.set()
        self._wake.set()

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
            self._drain(list(self.ledgers), self.settings.drain_timeout_s)
        except BaseException as exc:
            self.error = exc
            log.exception("consumer_loop_failed")
        finally:
            self.running.clear()
            self.consumer.close()

    def _tick(self) -> None:
        self.committer.producer.poll(0)
        self._collect()
        self.pausing.mark_all(AUTH, self.auth_paused())
        # Waiting for a finishing job (no free slot, or records held back by their partition's
        # or key's rules)? Then a poll would not end the wait: the finishing job wakes us.
        slot_bound = self._room() <= 0 or self._slot_bound()
        for msg in self._poll(block=not slot_bound, timeout=self._until_due()):
            self._accept(msg)
        self._collect()  # jobs that finished during the poll: their room, and this commit
        started = self._dispatch()
        self._maybe_commit()
        self._maybe_report_lag()
        if slot_bound and not started:
            self._wake.wait(self._until_due())
        self._wake.clear()

    def _until_due(self) -> float:
        """How long this thread may wait: until the next commit is due (``POLL_S``-``MAX_WAIT_S``).

        Until then only records and finishing jobs need it: a record ends a poll; a wait for a
        slot (``_wake``) ends when a finishing job leaves the loop short of handed-over jobs, or
        on ``stop()``; jobs that finish during a poll are collected before the commit. A 50 ms
        timer instead kept an idle service ticking 20 times a second, each tick contending for
        the GIL with the event loop. ``stop()`` may wait out a poll: ``MAX_WAIT_S`` at most.
        """
        return min(MAX_WAIT_S, max(POLL_S, self._commit_due_in(time.monotonic())))

    def _commit_due_in(self, now: float) -> float:
        """Seconds until the next commit is due (negative: overdue)."""
        return self._last_commit + self.settings.commit_interval_s - now

    def _room(self) -> int:
        return self._dispatch_limit - len(self.futures)

    def _slot_bound(self) -> bool:
        """Records are waiting to start (for a slot, or behind their partition or key)."""
        return any(ledger.waiting for ledger in self.ledgers.values())

    def _poll(self, *, block: bool, timeout: float) -> list[Message]:
        """Records from librdkafka; with ``block``, wait up to ``timeout`` s for the first one."""
        batch = max(self.settings.partition_buffer, self._room())
        msgs = self.consumer.consume(num_messages=batch, timeout=0)
        if msgs or not block:
            return msgs
        first = self.consumer.poll(timeout)  # returns on the first record, unlike consume()
        if first is None:
            return []
        return [first, *self.consumer.consume(num_messages=batch - 1, timeout=0)]

    # --- intake and scheduling -----------------------------------------------------------
    def _accept(self, msg: Message) -> None:
        error = msg.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("consume_error", error=str(error))
            return
        key = (str(msg.topic()), int(msg.partition() or 0))
        ledger = self.ledgers.get(key)
        if ledger is None or not ledger.add(msg):  # revoked meanwhile, or seen already
            return
        buffer = self.settings.partition_buffer
        if ledger.buffered >= buffer and ledger.held_back >= buffer:  # the first bounds the second
            self.pausing.mark(key, BACKPRESSURE, on=True)

    def _dispatch(self) -> int:
        """Hand records over while there is room, one per partition per round.

        First up to each partition's cap (records that can call the API at once), then the
        few more that wait for a partition slot on the event loop. The first pass counts only
        jobs within their partitions' caps against the limit: a record waiting beyond its
        partition's cap cannot take a free API slot, so a partition whose records arrive after
        the others filled the limit with such records still starts at once (it used to wait a
        whole API round trip, with API slots idle). The first partition rotates, so that no
        partition waits behind another's backlog.
        """
        order = list(self.ledgers)
        if order:
            first = self._rotation % len(order)
            order = order[first:] + order[:first]
            self._rotation += 1
        cap = self.settings.per_partition_cap
        within = sum(min(ledger.running, cap) for ledger in self.ledgers.values())
        started = self._hand_over(order, cap, self._dispatch_limit - within)
        started += self._hand_over(order, self._partition_limit, self._room())
        self._backpressure()
        return started

    def _backpressure(self) -> None:
        """Pause a partition holding back ``partition_buffer`` records; resume at half.

        Held back: waiting to start, or finished behind an earlier job still running. With
        several of a partition's jobs at once, a slow first one holds every later one
        uncommitted (in memory, and run again after a crash or a drain deadline); without the
        bound they would pile up while it runs. The finished prefix is not counted: the next
        commit takes it.
        """
        buffer = self.settings.partition_buffer
        for key, ledger in self.ledgers.items():
            held = ledger.held_back
            if held >= buffer:
                self.pausing.mark(key, BACKPRESSURE, on=True)
            elif held <= buffer // 2:
                self.pausing.mark(key, BACKPRESSURE, on=False)

    def _hand_over(self, order: list[Key], limit: int, budget: int) -> int:
        """Start up to ``budget`` records, each partition up to ``limit`` handed over at once."""
        started = 0
        keys = order
        while keys and started < budget:
            startable = []
            for key in keys:
                if started >= budget:
                    break
                msg = self.ledgers[key].next_startable(limit, self.settings.ordering)
                if msg is not None:
                    self._start(key, msg)
                    started += 1
                    startable.append(key)
            keys = startable
        return started

    def _start(self, key: Key, msg: Message) -> None:
        job_key = (*key, offset_of(msg))
        future = asyncio.run_coroutine_threadsafe(self.handler(msg), self.loop)
        self.futures[job_key] = future

        def done(f: concurrent.futures.Future[Outcome]) -> None:
            outcome: Outcome | None = None
            if not f.cancelled():
                exc = f.exception()
                try:
                    outcome = f.result() if exc is None else self.handler.crashed(msg, exc)
                except Exception:  # a double fault: the job is redone after a rebalance
                    log.exception("job_outcome_lost", offset=job_key[2])
            self._completions.put((job_key, outcome))
            on_loop = len(self.futures) - self._completions.qsize()  # running or queued there
            if self._dispatch_limit - on_loop >= self._wake_deficit:
                self._wake.set()

        future.add_done_callback(done)

    def _collect(self) -> None:
        """Hand finished jobs' outcomes to their ledgers (an abandoned job has none)."""
        while True:
            try:
                job_key, outcome = self._completions.get_nowait()
            except queue.Empty:
                return
            self.futures.pop(job_key, None)
            ledger = self.ledgers.get((job_key[0], job_key[1]))
            if outcome is None:
                continue
            if ledger is not None:
                ledger.finish(job_key[2], outcome)
            else:  # finished after its partition left: never committed here
                self.dropped.dropped(list(outcome.records))

    # --- publishing and offsets -----------------------------------------------------------
    def _commit(self, keys: list[Key]) -> None:
        """Publish and commit the finished prefix of each partition in ``keys``.

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
        positions = self._positions([k for k in keys if k in self.ledgers])
        batches: dict[Key, tuple[list[OutRecord], int]] = {}
        for key in keys:
            ledger = self.ledgers.get(key)
            if ledger is None:
                continue
            position, ready = ledger.take_committable(positions.get(key))
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

    def _positions(self, keys: list[Key]) -> dict[Key, int]:
        """The consumer's positions of the partitions whose ledgers are empty (local, cheap)."""
        empty = [TopicPartition(t, p) for t, p in keys if not self.ledgers[(t, p)]]
        if not empty:
            return {}
        return {(tp.topic, tp.partition): tp.offset for tp in self.consumer.position(empty)}

    def _committed(self, offsets: list[TopicPartition]) -> None:
        for tp in offsets:
            self.metrics.committed.labels(tp.topic, str(tp.partition)).set(tp.offset)

    def _maybe_commit(self) -> None:
        now = time.monotonic()
        if self._commit_due_in(now) > COMMIT_EARLY_S:
            return
        self._last_commit = now
        self._commit(list(self.ledgers))

    def _maybe_report_lag(self) -> None:
        """Lag = high watermark (cached from fetches, no request) - committed position."""
        now = time.monotonic()
        if now - self._last_lag < LAG_INTERVAL_S:
            return
        self._last_lag = now
        for (topic, partition), ledger in self.ledgers.items():
            if ledger.committed is None:
                continue
            try:
                _, high = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
            except Exception as exc:  # noqa: BLE001 - lag is best effort
                log.debug("lag_unavailable", error=str(exc))
                continue
            if high >= 0:
                lag = max(0, high - ledger.committed)
                self.metrics.lag.labels(topic, str(partition)).set(lag)

    # --- rebalances and shutdown -----------------------------------------------------------
    def _drain(self, keys: list[Key], timeout_s: float) -> None:
        """Stop starting jobs of ``keys``, wait for theirs up to the deadline, commit, forget."""
        for key in keys:
            if key in self.ledgers:
                self.ledgers[key].stop_starting()
        deadline = time.monotonic() + timeout_s
        pending = [k for k in self.futures if k[:2] in keys]
        while time.monotonic() < deadline and any(k in self.futures for k in pending):
            self.committer.producer.poll(0)
            self._wake.wait(POLL_S)
            self._wake.clear()
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

    def _wait_cancelled(self, keys: list[JobKey]) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(k in self.futures for k in keys):
            self._collect()
            time.sleep(0.01)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        for topic, partition in keys:
            self.ledgers[(topic, partition)] = PartitionLedger(topic, partition)
        log.info("partitions_assigned", partitions=[tp.partition for tp in partitions])
        if not partitions:
            return
        self._warn_unfillable()
        consumer.incremental_assign(partitions)
        self.pausing.assigned(keys)

    def _warn_unfillable(self) -> None:
        """Say so when the assigned partitions cannot fill the cap (partitions x per-partition cap).

        The slots panel would otherwise show the rest idle while lag rises.
        """
        per, cap = self.settings.per_partition_cap, self.settings.max_in_flight
        fillable = len(self.ledgers) * per
        if fillable >= cap:
            return
        if self.settings.ordering == "partition":
            hint = "BGCUT_ORDERING=key runs a partition's other keys alongside"
        else:
            hint = "raise BGCUT_MAX_IN_FLIGHT_PER_PARTITION, or unset it to let keys use every slot"
        log.warning(
            "slots_unfillable",
            fillable=fillable,
            max_in_flight=cap,
            per_partition=per,
            partitions=len(self.ledgers),
            hint=hint,
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        log.info("partitions_revoked", partitions=[tp.partition for tp in partitions])
        self._drain(keys, self.settings.drain_timeout_s)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        log.warning("partitions_lost", partitions=[tp.partition for tp in partitions])
        for job_key in [k for k in self.futures if k[:2] in keys]:
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
            ledger = self.ledgers.pop(key, None)
            if ledger is not None:
                dropped += ledger.drop()
            self._remove_gauge(key)
        self.pausing.revoked(keys)
        if dropped:
            self.dropped.dropped(dropped)

    def _remove_gauge(self, key: Key) -> None:
        """A partition that left stops reporting lag and offsets from this instance."""
        for gauge in (self.metrics.lag, self.metrics.committed):
            with contextlib.suppress(KeyError):
                gauge.remove(key[0], str(key[1]))
