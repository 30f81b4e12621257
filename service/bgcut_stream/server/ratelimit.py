"""Per-key token buckets; an empty bucket answers 429 with the wait as Retry-After."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from bgcut_stream.server.exceptions import TooManyRequests


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``rate`` tokens per second up to ``burst``; rate <= 0 disables limiting."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, identity: str) -> None:
        """Take one token for ``identity`` or raise TooManyRequests."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.setdefault(identity, _Bucket(float(self.burst), now))
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return
            wait = (1 - bucket.tokens) / self.rate
        raise TooManyRequests(wait)
