"""How long the consumer thread waits between ticks: until a commit is due, not on a short timer.

Pure logic over a fake consumer and producer (the calls ``_tick`` makes); the loop against a
real broker is covered by tests/integration/test_stream_service.py and tests/chaos.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bgcut_stream.observability.metrics import StreamMetrics
from bgcut_stream.stream.consumer_loop import POLL_S, ConsumerLoop
from bgcut_stream.stream.settings import StreamSettings

INTERVAL_S = 0.25


class FakeConsumer:
    """No records, ever; records the timeout of every blocking poll."""

    def __init__(self) -> None:
        self.poll_timeouts: list[float] = []

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        return []

    def poll(self, timeout: float) -> None:
        self.poll_timeouts.append(timeout)

    def pause(self, partitions: list[Any]) -> None: ...

    def resume(self, partitions: list[Any]) -> None: ...


class FakeProducer:
    def poll(self, timeout: float) -> int:
        return 0


@pytest.fixture
def idle_loop() -> Iterator[tuple[ConsumerLoop, FakeConsumer]]:
    settings = StreamSettings(kafka_bootstrap_servers="127.0.0.1:9", commit_interval_s=INTERVAL_S)
    event_loop = asyncio.new_event_loop()
    loop = ConsumerLoop(
        settings=settings,
        new_producer=FakeProducer,  # type: ignore[arg-type]
        loop=event_loop,
        handler=None,  # type: ignore[arg-type]
        metrics=StreamMetrics(),
        auth_paused=lambda: False,
        dropped=None,  # type: ignore[arg-type]
    )
    real = loop.consumer
    fake = FakeConsumer()
    loop.consumer = fake  # type: ignore[assignment]
    try:
        yield loop, fake
    finally:
        real.close()
        event_loop.close()


def test_an_idle_thread_waits_for_records_until_the_next_commit_is_due(
    idle_loop: tuple[ConsumerLoop, FakeConsumer],
) -> None:
    loop, consumer = idle_loop
    loop._last_commit = time.monotonic()  # just committed
    loop._tick()
    (timeout,) = consumer.poll_timeouts
    assert POLL_S < timeout <= INTERVAL_S


def test_a_commit_that_is_due_bounds_the_wait_by_the_shortest_poll(
    idle_loop: tuple[ConsumerLoop, FakeConsumer],
) -> None:
    loop, consumer = idle_loop
    loop._last_commit = time.monotonic() - 10 * INTERVAL_S  # overdue: commits in this tick
    loop._tick()
    assert consumer.poll_timeouts == [POLL_S]
    loop._tick()  # the commit was made: now the wait runs to the next one
    assert POLL_S < consumer.poll_timeouts[-1] <= INTERVAL_S
