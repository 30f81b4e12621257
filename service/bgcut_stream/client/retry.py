"""Retry policy: Retry-After for 429, full-jitter exponential backoff for 5xx and transport errors.

400/401/402/404/413 and client-side validation errors are never retried.
"""

from __future__ import annotations

import random

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from bgcut_stream.client.exceptions import BgcutError, RateLimited
from bgcut_stream.client.settings import ClientSettings

_JITTER = random.Random()  # noqa: S311 - jitter, not cryptography; one per process (seeding costs)


def is_retriable(exc: BaseException) -> bool:
    """Whether an error may succeed if the same request is sent again."""
    return isinstance(exc, BgcutError) and exc.retriable


class BackoffWait:
    """Tenacity wait: the server's Retry-After if given, else full jitter U(0, min(cap, b*2^n))."""

    def __init__(self, initial_s: float, cap_s: float, max_retry_after_s: float) -> None:
        self.initial_s = initial_s
        self.cap_s = cap_s
        self.max_retry_after_s = max_retry_after_s

    def __call__(self, state: RetryCallState) -> float:
        """Seconds to sleep before the next attempt."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after_s)
        ceiling = min(self.cap_s, self.initial_s * 2 ** (state.attempt_number - 1))
        return _JITTER.uniform(0, ceiling)


def retrying(settings: ClientSettings, attempts: int | None = None) -> AsyncRetrying:
    """An AsyncRetrying with the client's policy (``attempts`` overrides the setting)."""
    return AsyncRetrying(
        retry=retry_if_exception(is_retriable),
        wait=BackoffWait(
            settings.backoff_initial_s, settings.backoff_max_s, settings.max_retry_after_s
        ),
        stop=stop_after_attempt(attempts or settings.max_attempts)
        | stop_after_delay(settings.deadline_s),
        reraise=True,
    )
