"""``PartitionLedger``: one assigned partition's records, from poll to commit.

The ledger holds the records the consumer actually returned, in the order it returned them,
each waiting, running or finished (with the outcome to publish). The commit position is derived
from those records, never from offset arithmetic: it is the offset after the last record of the
finished prefix, or the consumer's own position once every consumed record is committed. So gaps
in the offsets (transaction markers, aborted transactions under read_committed, compaction,
retention) neither stall a partition nor skip a job.

Touched only by the consumer thread.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from confluent_kafka import Message

from bgcut_stream.stream.outcome import Outcome, OutRecord

Ordering = Literal["partition", "key"]


@dataclass
class _Entry:
    msg: Message
    key: bytes | None
    outcome: Outcome | None = None
    running: bool = False


def offset_of(msg: Message) -> int:
    """The offset of a consumed record."""
    offset = msg.offset()
    assert offset is not None
    return offset


class PartitionLedger:
    """Records of one partition not yet committed: waiting, running or finished."""

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self._entries: OrderedDict[int, _Entry] = OrderedDict()  # consumed order
        self._waiting: OrderedDict[int, _Entry] = OrderedDict()  # not started, consumed order
        self._running_keys: dict[bytes | None, int] = {}  # key -> records of it running
        self.running = 0
        self.committed: int | None = None  # the last position handed to the committer
        self._last_offset: int | None = None
        self._draining = False

    # --- intake -------------------------------------------------------------------------
    def add(self, msg: Message) -> bool:
        """Take a consumed record; False for one at or before a record already taken."""
        offset = offset_of(msg)
        if self._last_offset is not None and offset <= self._last_offset:
            return False
        self._last_offset = offset
        entry = _Entry(msg, msg.key())
        self._entries[offset] = entry
        self._waiting[offset] = entry
        return True

    @property
    def waiting(self) -> int:
        """Records consumed but not started."""
        return len(self._waiting)

    @property
    def buffered(self) -> int:
        """Records held here but not running: waiting to start, or finished and uncommitted."""
        return len(self._entries) - self.running

    @property
    def held_back(self) -> int:
        """Records that neither run nor leave with the next commit.

        Those waiting to start, and those finished behind an earlier record that has not.
        """
        committable = 0
        for entry in self._entries.values():
            if entry.outcome is None:
                break
            committable += 1
        return len(self._entries) - committable - self.running

    def __len__(self) -> int:
        return len(self._entries)

    # --- scheduling ---------------------------------------------------------------------
    def next_startable(self, limit: int, ordering: Ordering) -> Message | None:
        """Mark the next record that may start now as running and return it (or None).

        ``partition`` ordering: records start in offset order, up to ``limit`` at once.
        ``key`` ordering: a record waits while an earlier record of its key is waiting or running.
        """
        if self._draining or not self._waiting or self.running >= limit:
            return None
        chosen: _Entry | None = None
        if ordering == "partition":
            _, chosen = self._waiting.popitem(last=False)
        else:
            blocked: set[bytes | None] = set()
            for offset, entry in self._waiting.items():
                if entry.key not in self._running_keys and entry.key not in blocked:
                    chosen = self._waiting.pop(offset)
                    break
                blocked.add(entry.key)
        if chosen is None:
            return None
        chosen.running = True
        self.running += 1
        self._running_keys[chosen.key] = self._running_keys.get(chosen.key, 0) + 1
        return chosen.msg

    def finish(self, offset: int, outcome: Outcome) -> None:
        """A running record's job ended with ``outcome`` (its terminal records, maybe none)."""
        entry = self._entries.get(offset)
        if entry is None or not entry.running:
            return
        entry.running = False
        entry.outcome = outcome
        self.running -= 1
        left = self._running_keys[entry.key] - 1
        if left:
            self._running_keys[entry.key] = left
        else:
            del self._running_keys[entry.key]

    # --- committing ---------------------------------------------------------------------
    def take_committable(self, consumer_position: int | None) -> tuple[int | None, list[OutRecord]]:
        """Pop the finished prefix: the position to commit (or None) and its records in order.

        ``consumer_position``: the consumer's position in this partition (the offset after the
        last record it returned, moved past control records). It is committed once nothing
        consumed is left here, so trailing gaps are committed past too.
        """
        records: list[OutRecord] = []
        position: int | None = None
        while self._entries:
            offset, entry = next(iter(self._entries.items()))
            if entry.outcome is None:
                break
            self._entries.popitem(last=False)
            records.extend(entry.outcome.records)
            position = offset + 1
        if not self._entries and consumer_position is not None and consumer_position >= 0:
            floor = position if position is not None else self.committed
            if floor is not None and consumer_position > floor:
                position = consumer_position
        if position is not None:
            self.committed = position
        return position, records

    def drop(self) -> list[OutRecord]:
        """Forget everything (the partition is leaving); the records of finished jobs."""
        records = [r for e in self._entries.values() if e.outcome for r in e.outcome.records]
        self._entries.clear()
        self._waiting.clear()
        self._running_keys.clear()
        self.running = 0
        return records

    def stop_starting(self) -> None:
        """Start nothing more (a drain): waiting records stay uncommitted and will be redone."""
        self._draining = True
