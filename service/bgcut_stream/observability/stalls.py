"""What stalls the event loop, as metrics: the loop's own lateness, and the collector's pauses.

Every in-flight job's next step (a response read, a write, a result handed to the committer)
waits while the loop is busy elsewhere, so a stall delays all of them at once.
``wait_observing_lag`` samples how late a timer fires; ``GcPauses`` times each collection of the
cyclic garbage collector, the stall that per-job reference cycles caused (30-100 ms every ~0.8 s
at 64 in flight: item 8 under Benchmarks in the README).
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from prometheus_client import Histogram


async def wait_observing_lag(event: asyncio.Event, timeout_s: float, histogram: Histogram) -> None:
    """Wait up to ``timeout_s`` for ``event``; observe how late the loop ran a timer due then.

    The sample rides on a wait the caller does anyway (the service's supervision wait): a timer
    of its own would cost each sample a wake-up, ~0.25 ms of CPU on an idle 2-core VM. It is
    taken in the timer's own callback: ``wait_for`` raises its timeout several loop passes later.
    """
    loop = asyncio.get_running_loop()
    due = loop.time() + timeout_s
    sample = loop.call_at(due, lambda: histogram.observe(max(0.0, loop.time() - due)))
    try:
        await asyncio.wait_for(event.wait(), timeout_s)
    except TimeoutError:
        pass
    finally:
        sample.cancel()


class GcPauses:
    """Times each collection of the cyclic garbage collector, by generation, from start to stop.

    The collector runs in whichever thread allocated past its threshold, holding the GIL, so
    a collection in any thread pauses the event loop too.
    """

    def __init__(self, histogram: Histogram) -> None:
        # children made up front: the callback takes only their value locks, never held while
        # allocating, and not the parent's (``labels()`` allocates under it): no collection can
        # start while a lock the callback needs is held
        self._by_generation = [histogram.labels(str(g)) for g in range(3)]
        self._started = 0.0

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._by_generation[info["generation"]].observe(time.perf_counter() - self._started)

    def start(self) -> None:
        """Time the collections from now on."""
        gc.callbacks.append(self._on_collection)

    def stop(self) -> None:
        """Stop timing them."""
        gc.callbacks.remove(self._on_collection)
