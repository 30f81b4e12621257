"""The pipeline bench's goals table: each goal judged on the run's own figures."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from tests.support.bench_modules import load as load_bench


def load() -> ModuleType:
    return load_bench("pipeline_goals")


def service(jobs_s: float, cpu_ms: float, runs: int = 1) -> dict[str, Any]:
    spread = {"jobs_s": (jobs_s - 5, jobs_s + 5), "cpu_ms": (cpu_ms, cpu_ms)}
    return {"jobs_s": jobs_s, "cpu_ms": cpu_ms, "runs": runs, "spread": spread}


def peer(jobs_s: float, cpu_ms: float = 2.3) -> dict[str, Any]:
    return {"jobs_s": jobs_s, "cpu_ms": cpu_ms}


def by_figure(rows: list[list[str]]) -> dict[str, tuple[str, str]]:
    return {figure: (value, met) for figure, _goal, value, met in rows}


def test_a_run_that_meets_every_goal() -> None:
    goals = load()
    cells = {
        (64, 100, 1): goals.Measured(
            320.0, service(298.7, 1.24, runs=3), {"fresh": peer(194.0), "project": peer(200.0)}
        ),
        (256, 400, 1): goals.Measured(320.0, service(299.0, 1.14, runs=3), {}),
    }
    rows = by_figure(goals.goal_rows(cells, 2.90))
    assert rows["service jobs/s ÷ ideal, 64 in flight, 100 ms, 1 variant"] == (
        "93.3 % (runs 92-95 %)",
        "yes",
    )
    assert rows["service jobs/s ÷ ideal, 256 in flight, 400 ms, 1 variant"][1] == "yes"
    assert rows["service CPU per 1-variant job, 64 in flight, 100 ms"] == ("1.24 ms", "yes")
    every = rows["service CPU per 1-variant job, each of the 2 fixed-latency cells"]
    assert every == ("0 over; highest 1.24 ms (64 in flight, 100 ms)", "yes")
    fresh = rows["service ÷ batch-gather peer (as its authors install it), 64 in flight, 100 ms"]
    assert fresh == ("1.54x (at 100 % of ideal: 1.65x)", "yes")
    assert rows["3 instances ÷ 1 instance, 64 in flight each"] == ("2.90x", "yes")


def test_each_missed_goal_says_no() -> None:
    goals = load()
    cells = {
        (64, 100, 1): goals.Measured(
            320.0, service(233.7, 2.62), {"fresh": peer(117.9), "project": peer(156.5, 4.68)}
        ),
        (16, 400, 1): goals.Measured(20.0, service(17.7, 5.20), {}),
        (16, 400, 3): goals.Measured(20.0, service(18.1, 9.0), {}),  # 3 variants: not judged
    }
    rows = by_figure(goals.goal_rows(cells, 2.5))
    assert rows["service jobs/s ÷ ideal, 64 in flight, 100 ms, 1 variant"] == ("73.0 %", "**no**")
    assert rows["service CPU per 1-variant job, 64 in flight, 100 ms"][1] == "**no**"
    every = rows["service CPU per 1-variant job, each of the 2 fixed-latency cells"]
    assert every == ("2 over; highest 5.20 ms (16 in flight, 400 ms)", "**no**")
    project = rows["service ÷ batch-gather peer (in our venv), 64 in flight, 100 ms"]
    assert project == ("1.49x (at 100 % of ideal: 2.04x)", "**no**")
    assert rows["3 instances ÷ 1 instance, 64 in flight each"] == ("2.50x", "**no**")
    assert "4.68 ms a job" in goals.phase_line(cells)


def test_a_quick_run_marks_what_it_did_not_run() -> None:
    goals = load()
    cells = {(64, 100, 1): goals.Measured(320.0, service(290.0, 1.3), {})}
    rows = by_figure(goals.goal_rows(cells, None))
    assert rows["service jobs/s ÷ ideal, 256 in flight, 400 ms, 1 variant"] == ("not run", "-")
    assert rows["3 instances ÷ 1 instance, 64 in flight each"] == ("not run", "-")
    assert rows["service ÷ batch-gather peer (in our venv), 64 in flight, 100 ms"] == (
        "not run",
        "-",
    )
    assert not any(figure.startswith("service CPU per 1-variant job, each") for figure in rows)
    assert "n/a" in goals.phase_line(cells)
