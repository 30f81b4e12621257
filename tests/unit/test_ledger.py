"""``PartitionLedger`` against gap patterns, out-of-order completion and revokes."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from bgcut_stream.stream.ledger import PartitionLedger
from bgcut_stream.stream.outcome import Outcome, OutRecord


@dataclass
class FakeMessage:
    """The accessors the ledger uses (a pure-logic fake, not a Kafka mock)."""

    off: int
    k: bytes | None = None

    def offset(self) -> int:
        return self.off

    def key(self) -> bytes | None:
        return self.k


def outcome(offset: int) -> Outcome:
    return Outcome((OutRecord("results", str(offset).encode(), b"r"),))


def ledger_of(*offsets: int, keys: list[bytes | None] | None = None) -> PartitionLedger:
    ledger = PartitionLedger("jobs", 0)
    for index, offset in enumerate(offsets):
        assert ledger.add(FakeMessage(offset, keys[index] if keys else None))  # type: ignore[arg-type]
    return ledger


def run_all(ledger: PartitionLedger, limit: int = 100) -> list[int]:
    started = []
    while (msg := ledger.next_startable(limit, "partition")) is not None:
        started.append(msg.offset())
    return started


def test_gaps_from_transaction_markers_do_not_stall() -> None:
    """Offsets 0, 2, 4 (markers at 1, 3, 5): the commit passes every gap."""
    ledger = ledger_of(0, 2, 4)
    for offset in run_all(ledger):
        ledger.finish(offset, outcome(offset))
    position, records = ledger.take_committable(consumer_position=6)
    assert position == 6  # past the trailing marker too
    assert [r.key for r in records] == [b"0", b"2", b"4"]


def test_trailing_gap_waits_for_an_empty_ledger() -> None:
    """The consumer's position is used only once nothing consumed is left uncommitted."""
    ledger = ledger_of(0, 5)
    run_all(ledger)
    ledger.finish(0, outcome(0))
    assert ledger.take_committable(consumer_position=7) == (1, [outcome(0).records[0]])
    ledger.finish(5, outcome(5))
    position, _ = ledger.take_committable(consumer_position=7)
    assert position == 7
    assert ledger.take_committable(consumer_position=7) == (None, [])


def test_position_alone_is_not_committed_before_any_record() -> None:
    """A fresh assignment that consumed nothing commits nothing (its start is unknown)."""
    assert PartitionLedger("jobs", 0).take_committable(consumer_position=40) == (None, [])


def test_out_of_order_completion_commits_only_the_finished_prefix() -> None:
    ledger = ledger_of(10, 11, 12)
    run_all(ledger)
    ledger.finish(12, outcome(12))
    ledger.finish(11, outcome(11))
    assert ledger.take_committable(consumer_position=13) == (None, [])
    ledger.finish(10, outcome(10))
    position, records = ledger.take_committable(consumer_position=13)
    assert position == 13
    assert [r.key for r in records] == [b"10", b"11", b"12"]


def test_partition_order_and_limit() -> None:
    ledger = ledger_of(0, 1, 2)
    assert [m.offset() for m in iter(lambda: ledger.next_startable(2, "partition"), None)] == [0, 1]
    ledger.finish(1, outcome(1))
    assert ledger.next_startable(2, "partition").offset() == 2  # type: ignore[union-attr]


def test_key_order_waits_for_the_same_key_only() -> None:
    ledger = ledger_of(0, 1, 2, 3, keys=[b"a", b"a", b"b", b"a"])
    assert ledger.next_startable(10, "key").offset() == 0  # type: ignore[union-attr]
    assert ledger.next_startable(10, "key").offset() == 2  # type: ignore[union-attr]
    assert ledger.next_startable(10, "key") is None  # 1 and 3 wait for 0
    ledger.finish(0, outcome(0))
    assert ledger.next_startable(10, "key").offset() == 1  # type: ignore[union-attr]
    assert ledger.next_startable(10, "key") is None  # 3 waits for 1


def test_key_order_runs_keyless_records_one_at_a_time_in_offset_order() -> None:
    """Records without a key share one: a keyless topic keeps strict order under the default."""
    ledger = ledger_of(0, 1, 2, 3, keys=[None, b"a", None, None])
    assert ledger.next_startable(32, "key").offset() == 0  # type: ignore[union-attr]
    assert ledger.next_startable(32, "key").offset() == 1  # type: ignore[union-attr]
    assert ledger.next_startable(32, "key") is None  # 2 and 3 wait for 0
    ledger.finish(0, outcome(0))
    assert ledger.next_startable(32, "key").offset() == 2  # type: ignore[union-attr]
    assert ledger.next_startable(32, "key") is None  # 3 waits for 2


def test_held_back_counts_waiting_and_finished_behind_a_running_record_only() -> None:
    ledger = ledger_of(0, 1, 2, 3, 4, 5)
    for _ in range(4):
        ledger.next_startable(4, "partition")  # 0-3 run, 4 and 5 wait
    assert ledger.held_back == 2
    ledger.finish(0, outcome(0))  # a finished prefix: the next commit takes it
    assert ledger.held_back == 2
    ledger.finish(2, outcome(2))  # behind 1, still running: held back
    ledger.finish(3, outcome(3))
    assert ledger.held_back == 4
    ledger.finish(1, outcome(1))  # 0-3 are now the prefix
    assert ledger.held_back == 2


def test_replayed_or_older_records_are_refused() -> None:
    ledger = ledger_of(5)
    assert not ledger.add(FakeMessage(5))  # type: ignore[arg-type]
    assert not ledger.add(FakeMessage(3))  # type: ignore[arg-type]


def test_drain_keeps_waiting_records_uncommitted() -> None:
    """Stopping mid-partition: a waiting record before a finished one blocks the commit."""
    ledger = ledger_of(0, 1, 2, keys=[b"a", b"a", b"b"])
    ledger.next_startable(10, "key")  # 0
    ledger.next_startable(10, "key")  # 2 (1 waits for 0)
    ledger.stop_starting()
    ledger.finish(0, outcome(0))
    ledger.finish(2, outcome(2))
    assert ledger.next_startable(10, "key") is None
    position, records = ledger.take_committable(consumer_position=3)
    assert position == 1
    assert [r.key for r in records] == [b"0"]
    assert [r.key for r in ledger.drop()] == [b"2"]


@settings(max_examples=300, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=40),
    order=st.randoms(use_true_random=False),
    commit_every=st.integers(min_value=1, max_value=10),
    revoke_at=st.one_of(st.none(), st.integers(min_value=0, max_value=60)),
    keys=st.lists(st.sampled_from([b"a", b"b", b"c", None]), min_size=40, max_size=40),
    ordering=st.sampled_from(["partition", "key"]),
)
def test_any_gap_pattern_commits_every_record_once_in_order(
    gaps: list[int],
    order: object,
    commit_every: int,
    revoke_at: int | None,
    keys: list[bytes | None],
    ordering: str,
) -> None:
    """Random offsets, completion order and commit timing: committed records are exactly the
    consumed prefix, in offset order, each once; the position never moves backwards and never
    passes an unfinished record; after a revoke, what was dropped plus what was committed is
    every finished record."""
    import random  # noqa: PLC0415 - imported when used (start-up stays light)

    rng: random.Random = order  # type: ignore[assignment]
    offsets, offset = [], 0
    for gap in gaps:
        offset += gap
        offsets.append(offset)
    end = offsets[-1] + 1 + rng.randint(0, 3)  # the consumer's position: past trailing markers
    ledger = ledger_of(*offsets, keys=keys[: len(offsets)])
    running: list[int] = []
    committed: list[int] = []
    last_position = -1
    step = 0
    while len(committed) < len(offsets):
        while (msg := ledger.next_startable(rng.randint(1, 4), ordering)) is not None:  # type: ignore[arg-type]
            running.append(msg.offset())
        if running:
            done = running.pop(rng.randrange(len(running)))
            ledger.finish(done, outcome(done))
        step += 1
        if step % commit_every == 0 or not running:
            position, records = ledger.take_committable(end)
            got = [int(r.key or b"-1") for r in records]
            committed += got
            if position is not None:
                assert position > last_position
                last_position = position
                unfinished = [o for o in offsets if o not in committed]
                assert not unfinished or position <= min(unfinished)
        if revoke_at is not None and step == revoke_at:
            dropped = [int(r.key or b"-1") for r in ledger.drop()]
            assert not set(dropped) & set(committed)
            assert committed == sorted(committed)
            return
    assert committed == offsets
    assert last_position == end
