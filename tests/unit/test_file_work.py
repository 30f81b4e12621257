"""``FileWork``: file calls inline while they are fast, in worker threads once the disk is slow."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bgcut_stream.client.file_work import FileWork
from tests.support.clock import Clock


def call(clock: Clock, takes: float) -> str:
    clock.now += takes
    return threading.current_thread().name


def work(clock: Clock) -> FileWork:
    return FileWork(
        slow_s=0.002, slow_calls=3, window=16, stall_s=0.1, threaded_s=30, samples=4, clock=clock
    )


async def slow_disk(files: FileWork, clock: Clock) -> None:
    """Three slow inline calls in a row: what a slow disk looks like."""
    for _ in range(3):
        assert await files.run(call, clock, 0.025, small=True) == LOOP  # slow: it ran, inline


LOOP = threading.current_thread().name  # pytest-asyncio runs the loop on the main thread


async def test_fast_calls_run_inline_on_the_loop_thread() -> None:
    clock = Clock()
    files = work(clock)
    assert [await files.run(call, clock, 0.0001, small=True) for _ in range(5)] == [LOOP] * 5
    assert not files.threaded


async def test_after_slow_calls_file_work_stays_in_threads_until_they_are_fast_again() -> None:
    clock = Clock()
    files = work(clock)
    await slow_disk(files, clock)
    assert files.threaded
    for _ in range(4):  # the disk is fast again, but the 30 s are not over
        assert await files.run(call, clock, 0.0001, small=True) != LOOP
    clock.now += 31
    assert await files.run(call, clock, 0.0001, small=True) == LOOP
    assert not files.threaded


async def test_a_disk_that_stays_slow_keeps_file_work_in_threads() -> None:
    clock = Clock()
    files = work(clock)
    await slow_disk(files, clock)
    for _ in range(10):  # slow in the threads too (a slow or hanging disk)
        assert await files.run(call, clock, 0.025, small=True) != LOOP
    clock.now += 300
    assert await files.run(call, clock, 0.0001, small=True) != LOOP  # median still slow
    assert files.threaded


async def test_too_few_threaded_calls_to_judge_keep_file_work_in_threads() -> None:
    clock = Clock()
    files = work(clock)
    await slow_disk(files, clock)
    clock.now += 31
    assert await files.run(call, clock, 0.0001, small=True) != LOOP  # 1 sample of 4
    assert files.threaded


async def test_large_bodies_always_go_to_a_thread() -> None:
    clock = Clock()
    files = work(clock)
    assert await files.run(call, clock, 0.0001, small=False) != LOOP
    assert not files.threaded  # a large write says nothing about the disk's speed


async def test_errors_reach_the_caller_inline_and_threaded() -> None:
    clock = Clock()
    files = work(clock)

    def fail(takes: float) -> None:
        clock.now += takes
        raise OSError("disk full")

    for _ in range(3):
        with pytest.raises(OSError, match="disk full"):
            await files.run(fail, 0.01, small=True)  # inline, and slow: it still counts
    assert files.threaded
    with pytest.raises(OSError, match="disk full"):
        await files.run(fail, 0.0, small=True)


async def test_with_the_real_clock_blocking_calls_move_work_off_the_loop() -> None:
    files = FileWork()  # the defaults: 5 ms, 3 in 16, 100 ms, 30 s, 32 samples, time.monotonic
    for _ in range(3):
        assert await files.run(time.sleep, 0.02, small=True) is None  # 20 ms file creations
    assert files.threaded
    assert await files.run(lambda: threading.current_thread().name, small=True) != LOOP


async def test_with_the_real_clock_one_stalled_call_moves_work_off_the_loop() -> None:
    files = FileWork()
    assert await files.run(time.sleep, 0.15, small=True) is None  # longer than any preemption
    assert files.threaded


async def test_slow_calls_far_apart_keep_work_inline() -> None:
    """A loop preempted mid-call now and then is not a slow disk."""
    clock = Clock()
    files = work(clock)
    for _ in range(5):
        assert await files.run(call, clock, 0.025, small=True) == LOOP  # preempted: slow
        for _ in range(7):
            assert await files.run(call, clock, 0.0001, small=True) == LOOP
    assert not files.threaded  # 5 slow calls, never 3 within 16


async def test_the_third_slow_call_within_the_window_moves_work_to_threads() -> None:
    clock = Clock()
    files = work(clock)
    for _ in range(2):
        await files.run(call, clock, 0.025, small=True)
        for _ in range(6):
            await files.run(call, clock, 0.0001, small=True)
    assert not files.threaded
    await files.run(call, clock, 0.025, small=True)  # calls 1, 8 and 15 were slow: 3 in 16
    assert files.threaded


async def test_one_stalled_call_moves_work_to_threads() -> None:
    clock = Clock()
    files = work(clock)
    assert await files.run(call, clock, 0.15, small=True) == LOOP  # over stall_s: a hung disk
    assert files.threaded


async def test_inline_off_keeps_every_call_in_threads() -> None:
    clock = Clock()
    files = FileWork(inline=False, clock=clock)
    assert await files.run(call, clock, 0.0001, small=True) != LOOP


async def test_a_threaded_call_stuck_on_the_disk_keeps_file_work_in_threads() -> None:
    clock = Clock()
    files = work(clock)
    await slow_disk(files, clock)
    for _ in range(4):  # fast threaded calls: enough samples, all fast
        await files.run(call, clock, 0.0001, small=True)
    release = threading.Event()
    stuck = asyncio.ensure_future(files.run(release.wait, 5, small=True))
    await asyncio.sleep(0.05)  # it is running in its thread now
    clock.now += 31
    assert files.threaded  # the window is over and the samples are fast, but a call hangs
    release.set()
    assert await stuck is True
