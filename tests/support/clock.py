"""A clock that moves only when the test moves it (``clock.now += 1``), for pure-logic tests."""

from __future__ import annotations


class Clock:
    """Callable as ``time.monotonic`` is; ``monotonic`` for patching ``time.monotonic``."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        """The time the test set."""
        return self.now
