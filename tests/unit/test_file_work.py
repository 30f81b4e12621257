"""``FileWork``: file calls inline while they are fast, in worker threads after a slow one."""

from __future__ import annotations

import threading
import time

import pytest

from bgcut_stream.client.file_work import FileWork


class Clock:
    """A clock the test moves; each call to ``fn`` below advances it by its ``takes``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def call(clock: Clock, takes: float) -> str:
    clock.now += takes
    return threading.current_thread().name


async def test_fast_calls_run_inline_on_the_loop_thread() -> None:
    clock = Clock()
    files = FileWork(slow_s=0.002, threaded_s=30, clock=clock)
    loop_thread = threading.current_thread().name
    assert [await files.run(call, clock, 0.0001) for _ in range(5)] == [loop_thread] * 5
    assert not files.threaded


async def test_a_slow_inline_call_sends_file_work_to_threads_for_a_while() -> None:
    clock = Clock()
    files = FileWork(slow_s=0.002, threaded_s=30, clock=clock)
    loop_thread = threading.current_thread().name
    assert await files.run(call, clock, 0.025) == loop_thread  # slow: it ran, inline
    assert files.threaded
    assert await files.run(call, clock, 0.0001) != loop_thread
    clock.now += 29
    assert await files.run(call, clock, 0.0001) != loop_thread
    clock.now += 2  # the 30 s are over: one call tries inline again, and is fast
    assert await files.run(call, clock, 0.0001) == loop_thread
    assert not files.threaded


async def test_large_bodies_always_go_to_a_thread() -> None:
    clock = Clock()
    files = FileWork(clock=clock)
    loop_thread = threading.current_thread().name
    assert await files.run(call, clock, 0.0001, small=False) != loop_thread
    assert not files.threaded  # a thread call says nothing about the disk's speed


async def test_errors_reach_the_caller_inline_and_threaded() -> None:
    clock = Clock()
    files = FileWork(slow_s=0.002, threaded_s=30, clock=clock)

    def fail(takes: float) -> None:
        clock.now += takes
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await files.run(fail, 0.01)  # inline, and slow: it still counts
    assert files.threaded
    with pytest.raises(OSError, match="disk full"):
        await files.run(fail, 0.0)


async def test_with_the_real_clock_a_blocking_call_moves_work_off_the_loop() -> None:
    files = FileWork()  # the defaults: 2 ms, 30 s, time.monotonic
    loop_thread = threading.current_thread().name
    assert await files.run(time.sleep, 0.02) is None  # a disk that took 20 ms to create a file
    assert files.threaded
    assert await files.run(lambda: threading.current_thread().name) != loop_thread
