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

    def committable(self) -> int | None:
        """The offset to commit (one past the contiguous finished run), or None if no progress."""
        if self._next is None:
            return None
        position = self._next
        while position in self._finished:
            self._finished.discard(position)
            position += 1
        if position == self._next:
            return None
        self._next = position
        return position

    @property
    def in_flight(self) -> int:
        """Offsets started but not finished."""
        return len(self._started)
