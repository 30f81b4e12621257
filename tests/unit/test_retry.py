"""``client.retry.with_retries``: a first try that succeeds builds no retry state; the rest is
tenacity's policy (attempt count, deadline from the first try, which errors are retried)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from bgcut_stream.client.exceptions import BadRequest, ServerError, TransportError
from bgcut_stream.client.retry import retrying, with_retries
from bgcut_stream.client.settings import ClientSettings


def _settings(**overrides: float) -> ClientSettings:
    values: dict[str, float] = {
        "max_attempts": 3,
        "deadline_s": 60.0,
        "backoff_initial_s": 0.001,
        "backoff_max_s": 0.001,
    }
    values.update(overrides)
    return ClientSettings(**values)  # type: ignore[arg-type]


def _server_error(n: int) -> ServerError:
    return ServerError(500, f"boom {n}", "process", "rid")


class Script:
    """An attempt that fails with the scripted errors, then answers with its attempt number."""

    def __init__(self, *errors: Exception, slow_s: float = 0.0) -> None:
        self.errors = list(errors)
        self.slow_s = slow_s
        self.calls: list[int] = []

    async def __call__(self, attempt: int) -> int:
        self.calls.append(attempt)
        await asyncio.sleep(self.slow_s)
        if self.errors:
            raise self.errors.pop(0)
        return attempt


async def test_a_first_try_that_succeeds_leaves_no_cyclic_garbage(no_cyclic_gc: None) -> None:
    settings = _settings()
    for _ in range(20):
        assert await with_retries(settings, Script()) == 1
    assert gc.collect() == 0


async def test_a_tenacity_loop_per_call_leaves_cyclic_garbage(no_cyclic_gc: None) -> None:
    """Why the first try runs outside tenacity: if tenacity stops making cycles, this fails."""
    settings = _settings()
    for _ in range(20):
        async for attempt in retrying(settings):
            with attempt:
                await Script()(1)
    assert gc.collect() > 0


async def test_retriable_errors_are_retried_with_the_attempt_number() -> None:
    script = Script(_server_error(1), TransportError("reset", "process", "rid"))
    assert await with_retries(_settings(), script) == 3
    assert script.calls == [1, 2, 3]


async def test_the_last_error_is_raised_after_max_attempts() -> None:
    script = Script(_server_error(1), _server_error(2), _server_error(3), _server_error(4))
    with pytest.raises(ServerError, match="boom 3"):
        await with_retries(_settings(), script)
    assert script.calls == [1, 2, 3]


async def test_an_error_that_is_not_retriable_is_raised_at_once() -> None:
    script = Script(BadRequest(400, "no", "process", "rid"))
    with pytest.raises(BadRequest):
        await with_retries(_settings(), script)
    assert script.calls == [1]


async def test_attempts_overrides_the_setting() -> None:
    script = Script(_server_error(1))
    with pytest.raises(ServerError, match="boom 1"):
        await with_retries(_settings(), script, attempts=1)
    assert script.calls == [1]


async def test_the_deadline_counts_from_the_first_try() -> None:
    script = Script(_server_error(1), slow_s=0.2)
    with pytest.raises(ServerError, match="boom 1"):
        await with_retries(_settings(deadline_s=0.1), script)
    assert script.calls == [1]
