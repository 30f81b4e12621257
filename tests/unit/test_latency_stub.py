"""The bench's latency stub: a fixed delay, or a seeded lognormal one with the same mean."""

from __future__ import annotations

import importlib.util
import statistics
from pathlib import Path
from types import ModuleType

STUB = Path(__file__).parents[2] / "bench" / "latency_stub.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("latency_stub", STUB)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
