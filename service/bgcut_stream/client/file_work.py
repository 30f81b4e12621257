"""``FileWork``: where a download's file calls run: on the event loop while they are fast.

Placing an output is a handful of system calls (mkdir, create, write, close, rename). In a
worker thread each of them gives up the GIL and takes it back from the busy event loop, a
thread switch every time: measured on ``bench/client_bench.py``'s aiohttp stack (16 in flight,
tmpfs), a small output costs 0.10 ms of CPU written inline and 0.45 ms written from a thread
(a thread hop that writes nothing: 0.10 ms). On a fast filesystem (tmpfs, a local SSD) the
calls take tens of microseconds, so small ones run inline.

A filesystem that turns slow must not keep stalling the loop: ``SLOW_CALLS`` inline calls slower
than ``SLOW_S`` within ``WINDOW`` of them, or one slower than ``STALL_S``, send file work to
worker threads, where each call is timed. One slow call alone is not enough: a call is timed by
the wall clock, and on a busy VM the loop's thread is preempted mid-call now and then (at 64 in
flight on ``bench/pipeline_bench.py``, one call in a few thousand took 5-7 ms that way, and the
single-call rule sent every later write of the run to threads, 0.35 ms of CPU more each).
Calls come back inline only after ``THREADED_S`` and once the median of the last ``SAMPLES``
threaded calls is under ``SLOW_S`` again and no threaded call has been running for longer (time
waiting for the GIL counts, which errs towards threads). So a slow disk costs the loop a few
slow calls, and a hung one keeps file work in threads; but the first call that meets a disk
hanging while work is inline blocks the loop until the disk answers.
``inline=False`` (``BGCUT_API_FILE_WRITES_INLINE=false``) keeps every call in worker threads.
"""

from __future__ import annotations

import asyncio
import collections
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar, TypeVarTuple

import structlog

log = structlog.get_logger(__name__)
T = TypeVar("T")
Ts = TypeVarTuple("Ts")
# an inline call slower than this moves file work off the loop (at 2 ms, the loop's own
# preemption on a busy 2-core VM tripped it in 1 of 5 client_bench runs on tmpfs; at 5 ms, 0 of 5)
SLOW_S = 0.005
SLOW_CALLS = 3  # this many slow inline calls ...
WINDOW = 16  # ... within this many move file work to threads
STALL_S = 0.1  # and so does one inline call this slow (longer than this VM's preemptions)
THREADED_S = 30.0  # for at least this long
SAMPLES = 32  # and until the median of this many threaded calls is fast again


class FileWork:
    """Runs short blocking file calls inline while they are fast, else in worker threads."""

    def __init__(
        self,
        *,
        inline: bool = True,
        slow_s: float = SLOW_S,
        slow_calls: int = SLOW_CALLS,
        window: int = WINDOW,
        stall_s: float = STALL_S,
        threaded_s: float = THREADED_S,
        samples: int = SAMPLES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inline = inline
        self.slow_s = slow_s
        self.window = window
        self.stall_s = stall_s
        self.threaded_s = threaded_s
        self._clock = clock
        self._threaded_since: float | None = None
        self._inline_calls = 0
        # the numbers (``_inline_calls``) of the latest slow inline calls
        self._slow: collections.deque[int] = collections.deque(maxlen=slow_calls)
        # written by worker threads: durations of finished calls, starts of running ones
        self._recent: collections.deque[float] = collections.deque(maxlen=samples)
        self._running: dict[object, float] = {}

    @property
    def threaded(self) -> bool:
        """Whether calls go to worker threads now (file calls have been slow)."""
        if self._threaded_since is None:
            return False
        now = self._clock()
        if now - self._threaded_since < self.threaded_s:
            return True
        if any(now - started > self.slow_s for started in list(self._running.values())):
            return True  # a call is stuck on the disk right now
        recent = list(self._recent)
        if len(recent) < (self._recent.maxlen or 0) or statistics.median(recent) > self.slow_s:
            return True
        self._threaded_since = None
        log.info("file_work_inline")
        return False

    async def run(self, fn: Callable[[*Ts], T], *args: *Ts, small: bool) -> T:
        """``fn(*args)``: inline when ``small`` and file calls have been fast, else in a thread."""
        if not small or not self.inline:
            return await asyncio.to_thread(fn, *args)
        if self.threaded:
            return await asyncio.to_thread(self._timed, partial(fn, *args))
        started = self._clock()
        try:
            return fn(*args)
        finally:
            took = self._clock() - started
            self._inline_calls += 1
            if took > self.slow_s:
                self._slow_inline(took)

    def _slow_inline(self, took: float) -> None:
        """Count a slow inline call; enough of them, or a stalled one, move work to threads."""
        self._slow.append(self._inline_calls)
        clustered = (
            len(self._slow) == self._slow.maxlen
            and self._inline_calls - self._slow[0] < self.window
        )
        if clustered or took > self.stall_s:
            self._threaded_since = self._clock()
            self._recent.clear()
            self._slow.clear()
            log.info("file_work_threaded", inline_s=round(took, 4))

    def _timed(self, call: Callable[[], T]) -> T:
        """``call()`` in a worker thread, its duration kept (even when it raises)."""
        token = object()
        started = self._running[token] = self._clock()
        try:
            return call()
        finally:
            del self._running[token]
            self._recent.append(self._clock() - started)
