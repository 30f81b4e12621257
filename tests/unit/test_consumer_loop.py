"""How long the consumer thread waits between ticks (until a commit is due, not on a short timer),
which records it hands over,
and what it collects after a wait.

Pure logic over a fake consumer and producer (the calls ``_tick`` makes); the loop against a
real broker is covered by tests/integration/test_stream_service.py and tests/chaos.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import structlog
from confluent_kafka import TopicPartition

from bgcut_stream.observability.metrics import StreamMetrics
from bgcut_stream.stream import consumer_loop
from bgcut_stream.stream.consumer_loop import MAX_WAIT_S, POLL_S, ConsumerLoop
from bgcut_stream.stream.ledger import PartitionLedger
from bgcut_stream.stream.outcome import Outcome
from bgcut_stream.stream.pausing import PausingManager
from bgcut_stream.stream.settings import StreamSettings
from tests.support.clock import Clock

pytestmark = pytest.mark.usefixtures("no_concurrency_env")

INTERVAL_S = 60.0  # a commit interval far longer than any stall of this machine


class FakeConsumer:
    """No records, ever; records the timeout of every blocking poll."""

    def __init__(self) -> None:
        self.poll_timeouts: list[float] = []
        self.during_poll: Callable[[], None] = lambda: None

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        return []

    def poll(self, timeout: float) -> None:
        self.poll_timeouts.append(timeout)
        self.during_poll()


class FakeProducer:
    def poll(self, timeout: float) -> int:
        return 0


@contextmanager
def consumer_loop_of(**settings: Any) -> Iterator[ConsumerLoop]:
    """A ``ConsumerLoop`` that never runs: its consumer points nowhere, no handler, no sink."""
    event_loop = asyncio.new_event_loop()
    loop = ConsumerLoop(
        settings=StreamSettings(kafka_bootstrap_servers="127.0.0.1:9", **settings),
        new_producer=FakeProducer,  # type: ignore[arg-type]
        loop=event_loop,
        handler=None,  # type: ignore[arg-type]
        metrics=StreamMetrics(),
        auth_paused=lambda: False,
        dropped=None,  # type: ignore[arg-type]
    )
    real = loop.consumer
    try:
        yield loop
    finally:
        real.close()
        event_loop.close()


@pytest.fixture
def idle_loop() -> Iterator[tuple[ConsumerLoop, FakeConsumer]]:
    with consumer_loop_of(commit_interval_s=INTERVAL_S) as loop:
        fake = FakeConsumer()
        loop.consumer = fake  # type: ignore[assignment]
        yield loop, fake


def test_an_idle_thread_waits_for_records_until_the_next_commit_is_due(
    idle_loop: tuple[ConsumerLoop, FakeConsumer],
) -> None:
    loop, consumer = idle_loop
    loop._last_commit = time.monotonic()  # just committed; the next one is a minute away
    loop._tick()
    assert consumer.poll_timeouts == [MAX_WAIT_S]  # not the 50 ms timer, nor a minute


def test_a_commit_that_is_due_bounds_the_wait_by_the_shortest_poll(
    idle_loop: tuple[ConsumerLoop, FakeConsumer],
) -> None:
    loop, consumer = idle_loop
    loop._last_commit = time.monotonic() - 2 * INTERVAL_S  # overdue: commits in this tick
    loop._tick()
    assert consumer.poll_timeouts == [POLL_S]
    loop._tick()  # the commit was made: now the wait runs towards the next one
    assert consumer.poll_timeouts == [POLL_S, MAX_WAIT_S]


def test_a_poll_that_ends_just_short_of_the_commit_still_commits_in_its_tick(
    idle_loop: tuple[ConsumerLoop, FakeConsumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """librdkafka counts a poll's timeout in whole ms: it may return a fraction early.

    The commit it waited for is made in that tick, not in a second one ``POLL_S`` later (an
    idle thread woke twice per commit interval).
    """
    loop, consumer = idle_loop
    clock = Clock()
    monkeypatch.setattr(consumer_loop, "time", clock)
    loop._last_commit = clock.now - INTERVAL_S + 0.2  # the next commit is due in 200 ms

    def returns_early() -> None:
        clock.now += 0.199

    consumer.during_poll = returns_early
    loop._tick()
    assert consumer.poll_timeouts == [pytest.approx(0.2)]
    assert loop._last_commit == clock.now  # committed in this tick
    consumer.during_poll = lambda: None
    loop._tick()
    assert consumer.poll_timeouts[1] == MAX_WAIT_S  # towards the next commit, not POLL_S


def test_a_job_that_finishes_during_the_poll_is_collected_in_the_same_tick(
    idle_loop: tuple[ConsumerLoop, FakeConsumer],
) -> None:
    """Its outcome then makes this tick's commit, not the one after (and its room is free)."""
    loop, consumer = idle_loop
    job = ("jobs", 0, 5)
    loop.futures[job] = concurrent.futures.Future()
    consumer.during_poll = lambda: loop._completions.put((job, None))
    loop._tick()
    assert job not in loop.futures


class FakeRecord:
    """What the ledger and ``_dispatch`` read from a consumed record."""

    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._at = (topic, partition, offset)

    def topic(self) -> str:
        return self._at[0]

    def partition(self) -> int:
        return self._at[1]

    def offset(self) -> int:
        return self._at[2]

    def key(self) -> bytes:
        return f"{self._at[1]}-{self._at[2]}".encode()  # distinct keys

    def error(self) -> None:
        return None


def test_a_partition_whose_records_come_late_still_gets_the_free_slots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """16 slots, 2 a partition, 8 partitions: seven partitions' records arrive first and fill
    the hand-over limit (16 + 4) with records waiting beyond their partitions' caps; the eighth
    partition's records, a moment later, must still take the 2 API slots left free (they used
    to wait for a whole API round trip)."""
    with consumer_loop_of(max_in_flight=16, max_in_flight_per_partition=2, ordering="key") as loop:
        started: list[tuple[str, int, int]] = []

        def start(key: tuple[str, int], msg: FakeRecord) -> None:
            started.append((*key, msg.offset()))
            loop.futures[started[-1]] = concurrent.futures.Future()

        monkeypatch.setattr(loop, "_start", start)
        for partition in range(8):
            loop.ledgers[("jobs", partition)] = PartitionLedger("jobs", partition)
        for partition in range(1, 8):
            for offset in range(25):
                loop.ledgers[("jobs", partition)].add(FakeRecord("jobs", partition, offset))  # type: ignore[arg-type]
        loop._dispatch()
        assert len(started) == 20  # 14 in the seven partitions' slots, 6 waiting beyond them
        for offset in range(25):
            loop.ledgers[("jobs", 0)].add(FakeRecord("jobs", 0, offset))  # type: ignore[arg-type]
        loop._dispatch()
        assert [s for s in started if s[1] == 0] == [("jobs", 0, 0), ("jobs", 0, 1)]


class AssigningConsumer:
    """What ``_on_assign`` calls on the consumer librdkafka hands it."""

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        del partitions


@pytest.mark.parametrize(
    ("overrides", "warned"),
    [
        ({"ordering": "partition"}, True),  # 3 partitions x 1 < 32
        ({"ordering": "partition", "max_in_flight": 3}, False),
        ({"ordering": "partition", "max_in_flight_per_partition": 11}, False),
        ({}, False),  # key order: distinct keys may fill every slot
        ({"max_in_flight_per_partition": 1}, True),  # key order capped as the old default was
    ],
)
def test_assignment_says_when_partition_order_cannot_fill_the_cap(
    overrides: dict[str, Any], warned: bool
) -> None:
    with consumer_loop_of(**overrides) as loop, structlog.testing.capture_logs() as events:
        loop._on_assign(
            AssigningConsumer(),  # type: ignore[arg-type]
            [TopicPartition("jobs", p) for p in range(3)],
        )
    unfillable = [e for e in events if e["event"] == "slots_unfillable"]
    assert bool(unfillable) == warned
    if warned:
        assert unfillable[0]["fillable"] == 3
        assert unfillable[0]["max_in_flight"] == 32
        hint = unfillable[0]["hint"]
        key_order = overrides.get("ordering", "key") == "key"
        assert ("BGCUT_MAX_IN_FLIGHT_PER_PARTITION" if key_order else "BGCUT_ORDERING=key") in hint


class PauseRecorder:
    """The consumer as ``PausingManager`` drives it: which partitions it was told to pause."""

    def __init__(self) -> None:
        self.paused: set[int] = set()

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {tp.partition for tp in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {tp.partition for tp in partitions}


def test_finished_records_behind_a_running_one_fill_the_buffer_and_pause_the_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slow first job must not let the rest of its partition pile up uncommitted (held in
    memory and run again after a crash): finished records behind it count towards the buffer,
    and the partition resumes once it finishes (the next commit takes the whole run)."""
    with consumer_loop_of(max_in_flight=32, partition_buffer=8, ordering="key") as loop:
        recorder = PauseRecorder()
        loop.pausing = PausingManager(recorder)  # type: ignore[arg-type]
        loop.pausing.assigned([("jobs", 0)])
        ledger = loop.ledgers[("jobs", 0)] = PartitionLedger("jobs", 0)
        monkeypatch.setattr(loop, "_start", lambda key, msg: None)
        for offset in range(6):
            loop._accept(FakeRecord("jobs", 0, offset))  # type: ignore[arg-type]
        loop._dispatch()  # all six run at once (distinct keys)
        for offset in range(1, 5):  # four finish behind the slow first one
            ledger.finish(offset, Outcome(()))
        for offset in range(6, 9):
            loop._accept(FakeRecord("jobs", 0, offset))  # type: ignore[arg-type]
        assert recorder.paused == set()  # 4 finished + 3 waiting: below the buffer of 8
        loop._dispatch()
        assert ledger.running == 5  # the slow first job, offset 5 and the three new ones
        for offset in range(5, 9):
            ledger.finish(offset, Outcome(()))
        loop._dispatch()
        assert recorder.paused == {0}  # 8 finished and uncommitted behind the first
        ledger.finish(0, Outcome(()))
        assert ledger.held_back == 0  # a finished prefix: out with the next commit
        loop._dispatch()
        assert recorder.paused == set()
        assert ledger.take_committable(consumer_position=9) == (9, [])
