"""``FileWork``: where a download's file calls run: on the event loop while they are fast.

Placing an output is a handful of system calls (mkdir, create, write, close, rename). In a
worker thread each of them gives up the GIL and takes it back from the busy event loop, a
thread switch every time: measured on ``bench/client_bench.py``'s aiohttp stack (16 in flight,
tmpfs), a small output costs 0.10 ms of CPU written inline and 0.45 ms written from a thread
(a thread hop that writes nothing: 0.10 ms). On a fast filesystem (tmpfs, a local SSD) the
calls take tens of microseconds, so they run inline.

A disk that is slow to create files (tens of ms under load) must not stall the loop: an inline
call that takes longer than ``SLOW_S`` sends file work to worker threads for ``THREADED_S``;
after that, one call tries inline again. Large bodies always go to a thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import structlog

log = structlog.get_logger(__name__)
T = TypeVar("T")
SLOW_S = 0.002  # an inline call slower than this moves file work off the loop
THREADED_S = 30.0  # for this long


class FileWork:
    """Runs short blocking file calls inline while they are fast, else in worker threads."""

    def __init__(
        self,
        *,
        slow_s: float = SLOW_S,
        threaded_s: float = THREADED_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slow_s = slow_s
        self.threaded_s = threaded_s
        self._clock = clock
        self._threaded_until = float("-inf")

    @property
    def threaded(self) -> bool:
        """Whether calls go to worker threads now (a recent inline call was slow)."""
        return self._clock() < self._threaded_until

    async def run(self, fn: Callable[..., T], *args: Any, small: bool = True) -> T:
        """``fn(*args)``: inline when ``small`` and file calls have been fast, else in a thread."""
        if not small or self.threaded:
            return await asyncio.to_thread(fn, *args)
        started = self._clock()
        try:
            return fn(*args)
        finally:
            took = self._clock() - started
            if took > self.slow_s:
                self._threaded_until = self._clock() + self.threaded_s
                log.info("file_work_threaded", inline_s=round(took, 4), for_s=self.threaded_s)
