"""``PausingManager``: the one owner of which partitions are paused, and why.

Reasons are per partition (``backpressure``: its buffer is full) or global (``auth``: the API key
is rejected). A partition is paused while it has any reason; librdkafka is told only on changes,
and again on assignment, because it keeps a partition's pause flag across revoke and re-assign.
"""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

Key = tuple[str, int]
BACKPRESSURE = "backpressure"
AUTH = "auth"


class PausingManager:
    """Pause state of the assigned partitions (consumer thread only)."""

    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer
        self._reasons: dict[Key, set[str]] = {}
        self._global: set[str] = set()

    def _paused(self, key: Key) -> bool:
        return bool(self._global or self._reasons.get(key))

    def _apply(self, keys: list[Key], paused: bool) -> None:
        tps = [TopicPartition(t, p) for t, p in keys]
        if tps:
            (self._consumer.pause if paused else self._consumer.resume)(tps)

    def assigned(self, keys: list[Key]) -> None:
        """New partitions start unpaused unless a global reason holds."""
        for key in keys:
            self._reasons[key] = set()
        self._apply(keys, bool(self._global))

    def revoked(self, keys: list[Key]) -> None:
        """Forget leaving partitions."""
        for key in keys:
            self._reasons.pop(key, None)

    def mark(self, key: Key, reason: str, on: bool) -> None:
        """Add or remove one partition's ``reason``."""
        reasons = self._reasons.get(key)
        if reasons is None or (reason in reasons) == on:
            return
        before = self._paused(key)
        (reasons.add if on else reasons.discard)(reason)
        if self._paused(key) != before:
            self._apply([key], not before)

    def mark_all(self, reason: str, on: bool) -> None:
        """Add or remove a global ``reason`` (every assigned partition)."""
        if (reason in self._global) == on:
            return
        before = {k: self._paused(k) for k in self._reasons}
        (self._global.add if on else self._global.discard)(reason)
        changed = [k for k in self._reasons if self._paused(k) != before[k]]
        self._apply(changed, on)
