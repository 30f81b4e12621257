"""Offset bookkeeping: commits never pass an unfinished offset."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bgcut_stream.stream.offsets import PartitionOffsets


def test_out_of_order_completion_commits_only_contiguous_prefix() -> None:
    """Finishing 11 and 12 before 10 commits nothing until 10 is done, then jumps to 13."""
    offsets = PartitionOffsets()
    for offset in (10, 11, 12):
        offsets.start(offset)
    offsets.finish(11)
    offsets.finish(12)
    assert offsets.committable() is None
    offsets.finish(10)
    assert offsets.committable() == 13
    assert offsets.committable() is None
    assert offsets.in_flight == 0


def test_abandoned_offset_blocks_the_commit() -> None:
    """An offset that never finishes (abandoned at shutdown) is never committed past."""
    offsets = PartitionOffsets()
    for offset in (0, 1, 2):
        offsets.start(offset)
    offsets.finish(0)
    offsets.finish(2)
    assert offsets.committable() == 1
    assert offsets.committable() is None
    assert offsets.in_flight == 1


@given(st.permutations(list(range(30))), st.integers(0, 30))
def test_commit_position_is_first_unfinished(order: list[int], done: int) -> None:
    """Whatever the completion order, the committed position is the first unfinished offset."""
    offsets = PartitionOffsets()
    for offset in range(30):
        offsets.start(offset)
    finished = set(order[:done])
    for offset in order[:done]:
        offsets.finish(offset)
    position = offsets.committable()
    first_unfinished = next((o for o in range(30) if o not in finished), 30)
    assert (position or 0) == first_unfinished
