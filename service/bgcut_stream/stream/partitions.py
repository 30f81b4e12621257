"""What each assigned partition holds: buffered records, in-flight jobs, offsets to commit."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from confluent_kafka import Message

from bgcut_stream.stream.offsets import PartitionOffsets
from bgcut_stream.stream.outcome import Outcome, OutRecord


def coordinates(msg: Message) -> tuple[str, int, int]:
    """``(topic, partition, offset)`` of a consumed record."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    assert topic is not None
    assert partition is not None
    assert offset is not None
    return topic, partition, offset


@dataclass
class PartitionWork:
    """Per-partition scheduling state (touched only by the consumer thread)."""

    topic: str
    partition: int
    buffered: deque[Message] = field(default_factory=deque)
    offsets: PartitionOffsets = field(default_factory=PartitionOffsets)
    keys_in_flight: dict[int, bytes | None] = field(default_factory=dict)
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    paused: bool = False

    def next_startable(self, limit: int, ordering: Literal["partition", "key"]) -> Message | None:
        """Pop the next record that may start now under the per-partition rules, if any."""
        if not self.buffered or len(self.keys_in_flight) >= limit:
            return None
        if ordering == "partition":
            return self.buffered.popleft()
        busy = set(self.keys_in_flight.values())
        for index, msg in enumerate(self.buffered):
            if msg.key() not in busy:
                del self.buffered[index]
                return msg
            busy.add(msg.key())  # an earlier record of this key must go first
        return None

    def started(self, msg: Message) -> None:
        """Record that ``msg`` went to a worker."""
        offset = coordinates(msg)[2]
        self.offsets.start(offset)
        self.keys_in_flight[offset] = msg.key()

    def finished(self, offset: int, outcome: Outcome | None) -> None:
        """Record a worker's end; an abandoned job (no outcome) is not done and will be redone."""
        self.keys_in_flight.pop(offset, None)
        if outcome is not None:
            self.outcomes[offset] = outcome
            self.offsets.finish(offset)

    def take_ready(self) -> tuple[int | None, list[OutRecord]]:
        """The next position to commit and the records of the jobs before it, in offset order."""
        run = self.offsets.advance()
        records = [r for offset in run for r in self.outcomes.pop(offset).records]
        return (run[-1] + 1 if run else None), records

    def drop_finished(self) -> list[OutRecord]:
        """Forget finished but uncommitted jobs (the partition is leaving); their records."""
        records = [r for offset in sorted(self.outcomes) for r in self.outcomes[offset].records]
        self.outcomes.clear()
        return records
