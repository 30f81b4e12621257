"""``observability.stalls``: the loop's lateness and the collector's pauses reach the histograms."""

from __future__ import annotations

import asyncio
import gc
import time

from bgcut_stream.observability.metrics import StreamMetrics
from bgcut_stream.observability.stalls import GcPauses, wait_observing_lag


def test_a_blocked_loop_is_recorded_as_lag() -> None:
    metrics = StreamMetrics()
    sample = metrics.registry.get_sample_value

    async def main() -> None:
        never = asyncio.Event()
        await wait_observing_lag(never, 0.01, metrics.loop_lag)  # a quiet loop
        asyncio.get_running_loop().call_soon(time.sleep, 0.2)  # a stall: a blocking callback
        await wait_observing_lag(never, 0.01, metrics.loop_lag)  # due during the stall

    asyncio.run(main())
    under_100ms = sample("bgcut_event_loop_lag_seconds_bucket", {"le": "0.1"})
    assert sample("bgcut_event_loop_lag_seconds_count") == 2
    assert (under_100ms or 0) <= 1  # the timer due during the stall ran >= 0.19 s late
    assert (sample("bgcut_event_loop_lag_seconds_sum") or 0) >= 0.19


def test_the_lag_is_the_timers_lateness_not_the_passes_after_it() -> None:
    """On a loop whose every pass takes 0.1 s, a timer runs at most ~2 passes late; ``wait_for``
    raises its timeout ~4 passes after its timer, which a sample taken there would count."""
    metrics = StreamMetrics()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        busy = True

        def heavy_pass() -> None:
            time.sleep(0.1)
            if busy:
                loop.call_soon(heavy_pass)

        loop.call_soon(heavy_pass)
        await wait_observing_lag(asyncio.Event(), 0.01, metrics.loop_lag)
        busy = False

    asyncio.run(main())
    assert metrics.registry.get_sample_value("bgcut_event_loop_lag_seconds_count") == 1
    assert (metrics.registry.get_sample_value("bgcut_event_loop_lag_seconds_sum") or 0) < 0.3


def test_a_wait_the_event_ends_is_no_sample() -> None:
    metrics = StreamMetrics()

    async def main() -> None:
        event = asyncio.Event()
        asyncio.get_running_loop().call_soon(event.set)
        await wait_observing_lag(event, 30, metrics.loop_lag)

    asyncio.run(main())
    assert metrics.registry.get_sample_value("bgcut_event_loop_lag_seconds_count") == 0


def test_collections_are_timed_by_generation_between_start_and_stop() -> None:
    metrics = StreamMetrics()

    def full_collections() -> float:
        labels = {"generation": "2"}
        return metrics.registry.get_sample_value("bgcut_gc_pause_seconds_count", labels) or 0

    pauses = GcPauses(metrics.gc_pause)
    callbacks = list(gc.callbacks)
    pauses.start()
    try:
        gc.collect()
        gc.collect()
    finally:
        pauses.stop()
    assert full_collections() == 2
    gc.collect()
    assert full_collections() == 2
    assert gc.callbacks == callbacks
