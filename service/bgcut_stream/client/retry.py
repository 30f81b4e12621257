"""Retry policy: Retry-After for 429, full-jitter exponential backoff for 5xx and transport errors.

400/401/402/404/413 and client-side validation errors are never retried. ``with_retries`` makes
the first try without tenacity: a tenacity loop's objects hold each other (about 34 a call), so
reference counting never frees them; with httpx's response cycles (``net.lean_client``) they fed
the cyclic garbage collector, whose young collections paused the event loop 30-100 ms about
every second at 300 jobs a second. Tenacity takes over only once a try failed, replaying that
failure as its first attempt, so the policy (attempts, deadline, waits) is tenacity's throughout.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from bgcut_stream.client.exceptions import BgcutError, RateLimited
from bgcut_stream.client.settings import ClientSettings

T = TypeVar("T")
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


def retrying(
    settings: ClientSettings, attempts: int | None = None, deadline_s: float | None = None
) -> AsyncRetrying:
    """An AsyncRetrying with the client's policy (``attempts``, ``deadline_s`` override it)."""
    return AsyncRetrying(
        retry=retry_if_exception(is_retriable),
        wait=BackoffWait(
            settings.backoff_initial_s, settings.backoff_max_s, settings.max_retry_after_s
        ),
        stop=stop_after_attempt(attempts or settings.max_attempts)
        | stop_after_delay(settings.deadline_s if deadline_s is None else deadline_s),
        reraise=True,
    )


async def with_retries(
    settings: ClientSettings, attempt: Callable[[int], Awaitable[T]], attempts: int | None = None
) -> T:
    """``await attempt(1)``; after a retriable failure, ``attempt(2)``... under ``retrying``."""
    started = time.monotonic()
    try:
        return await attempt(1)
    except Exception as exc:  # noqa: BLE001 - re-raised below unless the policy retries it
        first = exc
    limit = attempts or settings.max_attempts
    if not is_retriable(first) or limit <= 1:
        raise first
    # the deadline counts from the first try, as it would in a tenacity loop begun before it
    left_s = max(0.0, settings.deadline_s - (time.monotonic() - started))
    policy = retrying(settings, limit, left_s)
    tries = 0

    async def replayed_then_again() -> T:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise first
        return await attempt(tries)

    return await policy(replayed_then_again)
