"""``DoneWindow``: remembers SUCCEEDED job_ids for the dedupe window, then forgets them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bgcut_stream.stream.dedupe import BUCKETS, DoneWindow
from tests.support.clock import Clock


def test_ids_expire_after_the_window() -> None:
    clock = Clock(1_000_000.0)
    window = DoneWindow(800.0, clock)
    window.add("a")
    clock.now += 400
    window.add("b")
    assert "a" in window
    assert "b" in window
    clock.now += 400 + 800 / BUCKETS
    assert "a" not in window
    assert "b" in window
    clock.now += 400
    assert "b" not in window
    assert len(window) == 0


def test_restored_entries_older_than_the_window_are_ignored() -> None:
    clock = Clock(1_000_000.0)
    window = DoneWindow(100.0, clock)
    window.add("old", at=clock.now - 500)
    window.add("new", at=clock.now - 50)
    assert "old" not in window
    assert "new" in window


def test_discard_forgets_merged_and_recent_ids() -> None:
    window = DoneWindow(3600.0)
    ids = [f"job-{i}" for i in range(10_000)]  # past the merge threshold: some are merged
    for job_id in ids:
        window.add(job_id)
    window.discard(ids[0])
    window.discard(ids[-1])
    assert ids[0] not in window
    assert ids[-1] not in window
    assert ids[5000] in window
    assert len(window) == len(ids) - 2
    window.add(ids[0])
    assert ids[0] in window


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=12), st.booleans()), max_size=300),
)
def test_membership_matches_a_plain_set(ops: list[tuple[str, bool]]) -> None:
    """Adds and discards in any order answer like a set would."""
    window = DoneWindow(3600.0)
    model: set[str] = set()
    for job_id, add in ops:
        if add:
            window.add(job_id)
            model.add(job_id)
        else:
            window.discard(job_id)
            model.discard(job_id)
    assert all((job_id in window) == (job_id in model) for job_id, _ in ops)
    assert len(window) == len(model)
