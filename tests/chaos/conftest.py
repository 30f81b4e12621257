"""Chaos fixtures: a broker per scenario (so it can be stopped), our server, a report table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bgcut_stream.imaging.saliency import SaliencyModel
from bgcut_stream.kafka_local import BrokerConfig, LocalBroker
from tests.chaos.audit import REPORT, render_report
from tests.support.server import RunningServer, running_server

JOBS = int(os.environ.get("BGCUT_CHAOS_JOBS", "200"))


@pytest.fixture(scope="session")
def chaos_model() -> SaliencyModel:
    """One model for every chaos server."""
    return SaliencyModel()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A dedicated Apache Kafka broker this scenario may stop and restart."""
    local = LocalBroker(BrokerConfig(state_dir=tmp_path / "kafka", port=0))
    local.up()
    try:
        yield local
    finally:
        local.down()


@pytest.fixture
def chaos_server(tmp_path: Path, chaos_model: SaliencyModel) -> Iterator[RunningServer]:
    """Our server with enough credits for the scenario and no rate limit."""
    with running_server(
        tmp_path / "server", chaos_model, keys=f"test-key:{JOBS * 10}", rate_limit_per_s=0
    ) as server:
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the chaos table after the run (and keep it in .bgcut/chaos-report.md)."""
    if not REPORT:
        return
    text = render_report()
    terminalreporter.write_sep("=", "chaos report")
    terminalreporter.write_line(text)
    out = Path(__file__).resolve().parents[2] / ".bgcut" / "chaos-report.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
