"""Which job_ids already succeeded: a time-windowed done table plus this process's claims.

Only ``SUCCEEDED`` is remembered. A job whose last terminal event was ``FAILED`` runs again when
it is published again (``dlq replay`` or upstream): a failure is not an answer worth keeping,
and remembering it would make the documented recovery (add credits, replay) a no-op.

Memory is bounded by the dedupe window: entries live in time buckets (64-bit job_id digests in a
sorted array each) and whole buckets expire; the topic behind it is ``compact,delete`` with the same
retention, so restore time is bounded too.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import threading
import time
from array import array
from collections import deque
from itertools import chain
from typing import Any

from bgcut_stream.stream.compacted import CompactedTable
from bgcut_stream.stream.outcome import OutRecord

SUCCEEDED = "SUCCEEDED"
BUCKETS = 8
MERGE_AT = 4096  # recent digests per bucket before they join its sorted array


def digest(job_id: str) -> int:
    """A 64-bit digest of ``job_id`` (what the window stores)."""
    return int.from_bytes(hashlib.blake2b(job_id.encode(), digest_size=8).digest(), "big")


class _Bucket:
    """The digests of one time slice: a sorted ``array('Q')`` plus a set of recent ones.

    The set joins the array (8 bytes a digest) once it holds an eighth as many: a handful of
    merges, each nearly linear (timsort on two sorted runs), keep memory near 9 bytes an entry.
    """

    __slots__ = ("number", "recent", "removed", "sorted")

    def __init__(self, number: int) -> None:
        self.number = number
        self.sorted = array("Q")
        self.recent: set[int] = set()
        self.removed: set[int] = set()

    def add(self, key: int) -> None:
        if key in self.removed:  # in the array, hidden: show it again
            self.removed.discard(key)
            return
        if key in self:
            return
        self.recent.add(key)
        if len(self.recent) >= max(MERGE_AT, len(self.sorted) // 8):
            self.sorted = array("Q", sorted(chain(self.sorted, self.recent)))
            self.recent = set()

    def discard(self, key: int) -> None:
        if key in self.recent:
            self.recent.discard(key)
        elif key in self:
            self.removed.add(key)

    def __contains__(self, key: int) -> bool:
        if key in self.removed:
            return False
        if key in self.recent:
            return True
        at = bisect.bisect_left(self.sorted, key)
        return at < len(self.sorted) and self.sorted[at] == key

    def __len__(self) -> int:
        return len(self.sorted) + len(self.recent) - len(self.removed)


class DoneWindow:
    """job_id digests of the last ``window_s`` seconds, in time buckets (thread-safe).

    About 8 bytes per job_id once merged (``make bench``: dedupe_bench); whole buckets expire.
    """

    def __init__(self, window_s: float, clock: Any = time.time) -> None:
        self.window_s = window_s
        self.width = window_s / BUCKETS
        self._clock = clock
        self._buckets: deque[_Bucket] = deque()  # oldest first
        self._lock = threading.Lock()

    def add(self, job_id: str, at: float | None = None) -> None:
        """Remember ``job_id`` as succeeded at ``at`` (default now); too old is ignored."""
        at = self._clock() if at is None else at
        number = int(at // self.width)
        key = digest(job_id)
        with self._lock:
            self._expire()
            if number <= self._oldest_kept():
                return
            for bucket in reversed(self._buckets):
                if bucket.number == number:
                    bucket.add(key)
                    return
                if bucket.number < number:
                    break
            bucket = _Bucket(number)
            bucket.add(key)
            self._buckets.append(bucket)
            if len(self._buckets) > 1 and self._buckets[-2].number > number:  # out of order
                self._buckets = deque(sorted(self._buckets, key=lambda b: b.number))

    def __contains__(self, job_id: str) -> bool:
        key = digest(job_id)
        with self._lock:
            self._expire()
            return any(key in bucket for bucket in self._buckets)

    def discard(self, job_id: str) -> None:
        """Forget ``job_id``."""
        key = digest(job_id)
        with self._lock:
            for bucket in self._buckets:
                bucket.discard(key)

    def _oldest_kept(self) -> int:
        return int((self._clock() - self.window_s) // self.width)

    def _expire(self) -> None:
        oldest = self._oldest_kept()
        while self._buckets and self._buckets[0].number <= oldest:
            self._buckets.popleft()

    def __len__(self) -> int:
        with self._lock:
            return sum(len(bucket) for bucket in self._buckets)


class DoneTable(CompactedTable):
    """The ``<jobs>.done`` topic restored into a ``DoneWindow`` and tailed."""

    def __init__(self, kafka_config: dict[str, Any], topic: str, window_s: float) -> None:
        super().__init__(kafka_config, topic, None)
        self.window = DoneWindow(window_s)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None or value is None:
            return
        entry = json.loads(value)
        if entry.get("value") == SUCCEEDED:
            self.window.add(key.decode(errors="replace"), float(entry.get("at", time.time())))

    def __len__(self) -> int:
        return len(self.window)


class Dedupe:
    """Claims job_ids while they run here; answers whether one already succeeded."""

    def __init__(self, table: DoneTable) -> None:
        self.table = table
        self._running: dict[str, asyncio.Future[None]] = {}  # event-loop thread only

    async def claim(self, job_id: str) -> bool:
        """Claim ``job_id`` for this job; False when it already succeeded (skip it)."""
        while (running := self._running.get(job_id)) is not None:
            await asyncio.shield(running)
        if job_id in self.table.window:
            return False
        self._running[job_id] = asyncio.get_running_loop().create_future()
        return True

    def release(self, job_id: str, succeeded: bool) -> None:
        """The claimed job ended; a success counts as done at once (its marker is on its way)."""
        if succeeded:
            self.table.window.add(job_id)
        running = self._running.pop(job_id, None)
        if running is not None:
            running.set_result(None)

    def dropped(self, records: list[OutRecord]) -> None:
        """Outcomes that will never be committed here: their jobs are not done after all."""
        for record in records:
            if record.topic == self.table.topic and record.key is not None:
                self.table.window.discard(record.key.decode(errors="replace"))

    @staticmethod
    def marker(topic: str, job_id: str) -> OutRecord:
        """The done-table record of a succeeded job."""
        return OutRecord(topic, job_id.encode(), CompactedTable.encode(SUCCEEDED))
