"""Per-partition offset bookkeeping: commit only up to the highest contiguous completed offset."""

from __future__ import annotations


class PartitionOffsets:
    """Offsets started and finished in one partition, in any completion order."""

    def __init__(self) -> None:
        self._started: set[int] = set()
        self._finished: set[int] = set()
        self._next: int | None = None  # the next offset the committed position waits for

    def start(self, offset: int) -> None:
        """Record that ``offset`` was handed to a worker."""
        if self._next is None or offset < self._next:
            self._next = offset if self._next is None else min(self._next, offset)
        self._started.add(offset)

    def finish(self, offset: int) -> None:
        """Record that ``offset`` is fully handled (result published)."""
        self._started.discard(offset)
        self._finished.add(offset)

    def advance(self) -> list[int]:
        """Pop the contiguous run of finished offsets at the front (empty when none)."""
        if self._next is None:
            return []
        run = []
        while self._next in self._finished:
            self._finished.discard(self._next)
            run.append(self._next)
            self._next += 1
        return run

    def committable(self) -> int | None:
        """The offset to commit (one past the contiguous finished run), or None if no progress."""
        run = self.advance()
        return run[-1] + 1 if run else None

    @property
    def in_flight(self) -> int:
        """Offsets started but not finished."""
        return len(self._started)
