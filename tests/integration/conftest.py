"""Fixtures of the integration suite: our real server over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bgcut_stream.imaging.saliency import SaliencyModel
from tests.support.server import RunningServer, running_server


@pytest.fixture(scope="session")
def saliency_model() -> SaliencyModel:
    """One loaded U²-Net-p model shared by every server of the session."""
    return SaliencyModel()


@pytest.fixture
def server(tmp_path: Path, saliency_model: SaliencyModel) -> Iterator[RunningServer]:
    """A fresh server (own data dir and ledger; key 'test-key' with 1000 credits)."""
    with running_server(tmp_path / "server", saliency_model) as running:
        yield running
