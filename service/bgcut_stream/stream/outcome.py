"""What a finished job hands back to the consumer thread: the records to publish for it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OutRecord:
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None


@dataclass(frozen=True)
class Outcome:
    """A job's terminal records (result, dead letter, done marker); none for a duplicate."""

    records: tuple[OutRecord, ...] = field(default_factory=tuple)
