"""Which job_ids already succeeded: a time-windowed done table plus this process's claims.

Only ``SUCCEEDED`` is remembered. A job whose last terminal event was ``FAILED`` runs again when
it is published again (``dlq replay`` or upstream): a failure is not an answer worth keeping,
and remembering it would make the documented recovery (add credits, replay) a no-op.

Memory is bounded by the dedupe window: entries live in time buckets (a set of 64-bit job_id
digests each) and whole buckets expire; the topic behind it is ``compact,delete`` with the same
retention, so restore time is bounded too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import deque
from typing import Any

from bgcut_stream.stream.compacted import CompactedTable
from bgcut_stream.stream.outcome import OutRecord

SUCCEEDED = "SUCCEEDED"
BUCKETS = 8


def digest(job_id: str) -> int:
    """A 64-bit digest of ``job_id`` (what the window stores)."""
    return int.from_bytes(hashlib.blake2b(job_id.encode(), digest_size=8).digest(), "big")


class DoneWindow:
    """job_id digests of the last ``window_s`` seconds, in time buckets (thread-safe)."""

    def __init__(self, window_s: float, clock: Any = time.time) -> None:
        self.window_s = window_s
        self.width = window_s / BUCKETS
        self._clock = clock
        self._buckets: deque[tuple[int, set[int]]] = deque()  # (bucket number, digests)
        self._lock = threading.Lock()

    def add(self, job_id: str, at: float | None = None) -> None:
        """Remember ``job_id`` as succeeded at ``at`` (default now); too old is ignored."""
        at = self._clock() if at is None else at
        number = int(at // self.width)
        with self._lock:
            self._expire()
            if number <= self._oldest_kept():
                return
            for existing, digests in reversed(self._buckets):
                if existing == number:
                    digests.add(digest(job_id))
                    return
                if existing < number:
                    break
            self._buckets.append((number, {digest(job_id)}))
            if len(self._buckets) > 1 and self._buckets[-2][0] > number:  # restore out of order
                self._buckets = deque(sorted(self._buckets, key=lambda b: b[0]))

    def __contains__(self, job_id: str) -> bool:
        key = digest(job_id)
        with self._lock:
            self._expire()
            return any(key in digests for _, digests in self._buckets)

    def discard(self, job_id: str) -> None:
        """Forget ``job_id``."""
        key = digest(job_id)
        with self._lock:
            for _, digests in self._buckets:
                digests.discard(key)

    def _oldest_kept(self) -> int:
        return int((self._clock() - self.window_s) // self.width)

    def _expire(self) -> None:
        oldest = self._oldest_kept()
        while self._buckets and self._buckets[0][0] <= oldest:
            self._buckets.popleft()

    def __len__(self) -> int:
        with self._lock:
            return sum(len(d) for _, d in self._buckets)


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
