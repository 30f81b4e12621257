"""Auditing a chaos run: every job exactly one terminal event, none lost, credits bounded."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.support.stream import StreamHarness

REPORT: list[list[str]] = []
HEADERS = [
    "scenario",
    "jobs",
    "lost",
    "duplicated",
    "dead-lettered by reason",
    "extra credits",
    "jobs redone",
    "recovery s",
]


@dataclass
class Audit:
    """What the results topic (read_committed) says about a run."""

    jobs: int
    lost: list[str]
    duplicated: list[str]
    dead_lettered: dict[str, int]
    extra_credits: float
    redone: int = 0

    def row(self, scenario: str, recovery_s: float) -> list[str]:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.dead_lettered.items())) or "-"
        return [
            scenario,
            str(self.jobs),
            str(len(self.lost)),
            str(len(self.duplicated)),
            reasons,
            f"{self.extra_credits:g}",
            str(self.redone),
            f"{recovery_s:.1f}",
        ]


def wait_for_all(harness: StreamHarness, job_ids: set[str], timeout_s: float) -> float:
    """Seconds until every job_id has a result (fails at the deadline)."""
    started = time.monotonic()
    deadline = started + timeout_s
    seen: set[str] = set()
    while time.monotonic() < deadline:
        seen = {r.job_id for r in harness.all_results(idle_s=1.0)}
        if job_ids <= seen:
            return time.monotonic() - started
        time.sleep(1)
    missing = sorted(job_ids - seen)
    raise AssertionError(f"{len(missing)} jobs without a result, e.g. {missing[:5]}")


def audit(harness: StreamHarness, job_ids: set[str], credits_spent: float) -> Audit:
    """Count results per job_id and compare the credits spent with those the results report."""
    results = harness.all_results(idle_s=3.0)
    counts = Counter(r.job_id for r in results)
    first = {r.job_id: r for r in results}
    return Audit(
        jobs=len(job_ids),
        lost=sorted(job_ids - set(counts)),
        duplicated=sorted(j for j, n in counts.items() if n > 1),
        dead_lettered=dict(Counter(r.error.reason for r in first.values() if r.error)),
        extra_credits=credits_spent - sum(r.credits_charged for r in first.values()),
    )


def jobs_redone(logs: list[Path]) -> int:
    """Jobs that finished more than once across the service logs (their first result was never
    committed: finished but uncommitted when the fault hit)."""
    finished: Counter[str] = Counter()
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{") and '"job_done"' in line:
                event = json.loads(line)
                finished[event.get("job_id") or f"{event['partition']}@{event['offset']}"] += 1
    return sum(1 for n in finished.values() if n > 1)


def render_report() -> str:
    """The report as a Markdown table."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in REPORT]
    return "\n".join(lines)
