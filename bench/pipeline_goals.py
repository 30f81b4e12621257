"""The pipeline bench's goals (issue 13), judged on one run's figures.

``pipeline_bench.py`` prints this table after its grid, so that every run says which goals it met
and which it did not, next to the figure that tells this VM's phase: the project-venv peer's CPU a
job in the 64-in-flight, 100 ms cell (the same peer code measured 2.3 ms a job in a fast phase and
4.7 in the slowest seen; read the service's CPU against it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

Key = tuple[int, int, int]  # (in flight, API latency ms, variants)
HEADLINE: Key = (64, 100, 1)
THROUGHPUT = ((HEADLINE, 90.0), ((256, 400, 1), 80.0))  # % of ideal, at least
CPU_MAX_MS = 1.5  # service CPU per 1-variant job, at most
PEER_RATIO = 1.5  # service jobs/s ÷ batch-gather jobs/s at HEADLINE, at least
SCALE_OUT = 2.7  # 3 instances ÷ 1, at least
HEADERS = ["figure", "goal", "this run", "met"]


class Measured(NamedTuple):
    """One fixed-latency cell: its ideal jobs/s, the service's medians and the peers'."""

    ideal: float
    service: Mapping[str, Any]
    peers: Mapping[str, Mapping[str, Any]]


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _throughput(cells: Mapping[Key, Measured]) -> list[list[str]]:
    rows = []
    for key, floor in THROUGHPUT:
        figure = f"service jobs/s ÷ ideal, {key[0]} in flight, {key[1]} ms, 1 variant"
        cell = cells.get(key)
        if cell is None:
            rows.append([figure, f"≥ {floor:.0f} %", "not run", "-"])
            continue
        share = 100 * cell.service["jobs_s"] / cell.ideal
        shown = f"{share:.1f} %"
        if cell.service.get("runs", 1) > 1:
            low, high = cell.service["spread"]["jobs_s"]
            shown += f" (runs {100 * low / cell.ideal:.0f}-{100 * high / cell.ideal:.0f} %)"
        rows.append([figure, f"≥ {floor:.0f} %", shown, _met(share >= floor)])
    return rows


def _cpu(cells: Mapping[Key, Measured]) -> list[list[str]]:
    goal = f"≤ {CPU_MAX_MS} ms"
    headline = cells.get(HEADLINE)
    figure = "service CPU per 1-variant job, 64 in flight, 100 ms"
    rows = [
        [figure, goal, "not run", "-"]
        if headline is None
        else [
            figure,
            goal,
            f"{headline.service['cpu_ms']:.2f} ms",
            _met(headline.service["cpu_ms"] <= CPU_MAX_MS),
        ]
    ]
    singles = {key: cell for key, cell in cells.items() if key[2] == 1}
    if len(singles) > 1:
        worst_key = max(singles, key=lambda key: singles[key].service["cpu_ms"])
        worst = singles[worst_key].service["cpu_ms"]
        over = sum(cell.service["cpu_ms"] > CPU_MAX_MS for cell in singles.values())
        where = f"{worst_key[0]} in flight, {worst_key[1]} ms"
        rows.append(
            [
                f"service CPU per 1-variant job, each of the {len(singles)} fixed-latency cells",
                goal,
                f"{over} over; highest {worst:.2f} ms ({where})",
                _met(over == 0),
            ]
        )
    return rows


def _peer_ratio(cells: Mapping[Key, Measured]) -> list[list[str]]:
    rows = []
    headline = cells.get(HEADLINE)
    for name, label in (("fresh", "as its authors install it"), ("project", "in our venv")):
        figure = f"service ÷ batch-gather peer ({label}), 64 in flight, 100 ms"
        peer = None if headline is None else headline.peers.get(name)
        if headline is None or peer is None:
            rows.append([figure, f"≥ {PEER_RATIO}x", "not run", "-"])
            continue
        ratio = headline.service["jobs_s"] / peer["jobs_s"]
        ceiling = headline.ideal / peer["jobs_s"]  # a service at 100 % of ideal
        rows.append(
            [
                figure,
                f"≥ {PEER_RATIO}x",
                f"{ratio:.2f}x (at 100 % of ideal: {ceiling:.2f}x)",
                _met(ratio >= PEER_RATIO),
            ]
        )
    return rows


def goal_rows(cells: Mapping[Key, Measured], scale_out: float | None) -> list[list[str]]:
    """The goals table: figure, goal, this run's value, met (``cells``: fixed latency only)."""
    rows = [*_throughput(cells), *_cpu(cells), *_peer_ratio(cells)]
    figure = "3 instances ÷ 1 instance, 64 in flight each"
    if scale_out is None:
        rows.append([figure, f"≥ {SCALE_OUT}x", "not run", "-"])
    else:
        rows.append([figure, f"≥ {SCALE_OUT}x", f"{scale_out:.2f}x", _met(scale_out >= SCALE_OUT)])
    return rows


def phase_line(cells: Mapping[Key, Measured]) -> str:
    """This VM's phase, as the project-venv peer's CPU a job at HEADLINE shows it."""
    headline = cells.get(HEADLINE)
    peer = None if headline is None else headline.peers.get("project")
    if peer is None:
        return "This VM's phase: n/a (the project-venv peer did not run at 64 in flight, 100 ms)."
    return (
        "This VM's phase, to read the CPU rows by: the project-venv peer's CPU at 64 in flight, "
        f"100 ms was {peer['cpu_ms']:.2f} ms a job (2.3 in a fast phase, 4.7 in the slowest seen)."
    )
