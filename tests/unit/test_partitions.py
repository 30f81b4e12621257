"""Per-partition scheduling: strict order by default, per-key order when asked."""

from __future__ import annotations

from dataclasses import dataclass

from bgcut_stream.stream.outcome import Outcome
from bgcut_stream.stream.partitions import PartitionWork


@dataclass
class FakeMessage:
    """The three accessors PartitionWork uses (a pure-logic fake, not a Kafka mock)."""

    off: int
    k: bytes | None

    def offset(self) -> int:
        return self.off

    def key(self) -> bytes | None:
        return self.k

    def topic(self) -> str:
        return "jobs"

    def partition(self) -> int:
        return 0


def _work(*keys: bytes) -> PartitionWork:
    work = PartitionWork("jobs", 0)
    work.buffered.extend(FakeMessage(i, k) for i, k in enumerate(keys))  # type: ignore[misc]
    return work


def test_partition_order_starts_one_at_a_time_by_default() -> None:
    """With a limit of 1 the next record waits for the previous one."""
    work = _work(b"a", b"b")
    first = work.next_startable(1, "partition")
    assert first is not None
    work.started(first)
    assert work.next_startable(1, "partition") is None
    work.finished(0, Outcome())
    second = work.next_startable(1, "partition")
    assert second is not None
    assert second.offset() == 1


def test_key_order_runs_distinct_keys_together_and_same_key_in_order() -> None:
    """Keys a, a, b with limit 3: the first a and b run; the second a waits for the first."""
    work = _work(b"a", b"a", b"b")
    started = []
    while (msg := work.next_startable(3, "key")) is not None:
        work.started(msg)
        started.append(msg.offset())
    assert started == [0, 2]
    work.finished(0, Outcome())
    msg = work.next_startable(3, "key")
    assert msg is not None
    assert msg.offset() == 1
