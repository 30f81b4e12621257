"""The bench's latency stub: a fixed delay, or a seeded lognormal one with the same mean."""

from __future__ import annotations

import statistics
from types import ModuleType

from tests.support.bench_modules import load as load_bench


def load() -> ModuleType:
    return load_bench("latency_stub")


def test_a_fixed_delay_without_jitter() -> None:
    stub = load().Stub(0.1, "http://127.0.0.1:1")
    assert {stub.delay() for _ in range(100)} == {0.1}


def test_jitter_keeps_the_mean_varies_each_call_and_repeats_across_runs() -> None:
    module = load()
    draws = [module.Stub(0.1, "", jitter=0.5).delay() for _ in range(3)]
    assert len(set(draws)) == 1  # seeded: every run meets the same latencies
    stub = module.Stub(0.1, "", jitter=0.5)
    delays = sorted(stub.delay() for _ in range(20_000))
    assert abs(statistics.fmean(delays) - 0.1) < 0.004
    assert delays[len(delays) // 100] < 0.05 < 0.2 < delays[-len(delays) // 100]  # p1, p99
