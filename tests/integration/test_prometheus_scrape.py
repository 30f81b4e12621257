"""A real Prometheus scrapes a running service during a job run; PromQL returns the counts."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bgcut_stream.events.jobs import ImageJob, InlineSource, UploadedSource
from tests.integration.test_stream_service import tiny
from tests.support.server import RunningServer
from tests.support.stream import StreamHarness, free_port, poll_until

pytestmark = pytest.mark.integration
DASHBOARD = Path(__file__).parents[2] / "helm" / "bgcut-stream" / "files" / "dashboard.json"
STALL_PANELS = (
    "Event loop lag p99",
    "Time in garbage collection",
    "Objects freed by the garbage collector per job",
)


@pytest.fixture
def prometheus_binary() -> str:
    """Debian's prometheus (installed by `make tools`)."""
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail("prometheus not found: run `make tools`")
    return found


def start_prometheus(
    binary: str, target_port: int, tmp: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: bgcut-stream\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
    )
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}"


def query(url: str, promql: str) -> float | None:
    try:
        body = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=2).json()
    except (httpx.TransportError, ValueError):
        return None
    result = body.get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else None


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def test_prometheus_scrapes_job_counts(
    kafka_bootstrap: str,
    server: RunningServer,
    tmp_path: Path,
    prometheus_binary: str,
    stopped: list[subprocess.Popen[bytes]],
) -> None:
    """Four good jobs and one not-found job show up in PromQL as scraped by Prometheus; the
    dashboard's cost, stall and slot panels return values for jobs that finish while it
    scrapes."""
    harness = StreamHarness(kafka_bootstrap, server.url, tmp_path / "artifacts")
    harness.publish(
        *[ImageJob(job_id=f"p{i}", source=InlineSource(tiny(300 + i))) for i in range(4)]
    )
    harness.publish(ImageJob(job_id="missing", source=UploadedSource("nope")))
    with harness.running() as service:
        proc, url = start_prometheus(prometheus_binary, service.health.port, tmp_path)
        stopped.append(proc)
        harness.results(5)
        started = time.monotonic()
        poll_until(
            lambda: query(url, 'sum(bgcut_jobs_total{outcome="succeeded"})') == 4,
            timeout_s=60,
            message="succeeded count in Prometheus",
        )
        assert query(url, 'sum(bgcut_dlq_records_total{reason="not-found"})') == 1
        assert query(url, 'sum(bgcut_uploads_total{kind="made"})') == 4
        assert query(url, "sum(bgcut_credits_spent_total)") == 4
        assert query(url, 'up{job="bgcut-stream"}') == 1
        assert time.monotonic() - started < 60

        # jobs finishing while Prometheus scrapes: the dashboard's per-job panels have a rate
        harness.publish(
            *[ImageJob(job_id=f"q{i}", source=InlineSource(tiny(310 + i))) for i in range(3)]
        )
        harness.results(8)
        cpu_per_job = panel_expr("Service CPU per finished job")
        poll_until(
            lambda: (query(url, cpu_per_job) or 0) > 0,
            timeout_s=60,
            message="CPU per job from the dashboard's query",
        )
        for title in STALL_PANELS:  # NaN: no samples (the loop lag's, say)
            value = query(url, panel_expr(title))
            assert value is not None, title
            assert math.isfinite(value), title
        # jobs held API slots within the last 30 s: a share of the cap above 0, at most 1
        busy = query(url, panel_expr("API slots busy (share of the in-flight cap)"))
        assert busy is not None
        assert 0 < busy <= 1


def panel_expr(title: str) -> str:
    """A dashboard panel's query, its variables set as Grafana would (all, a 30 s window)."""
    panels = {p["title"]: p for p in json.loads(DASHBOARD.read_text())["panels"]}
    (target,) = panels[title]["targets"]
    expr: str = target["expr"]
    for variable in ("$namespace", "$job", "$instance"):
        expr = expr.replace(variable, ".*")
    return expr.replace("$__rate_interval", "30s")
