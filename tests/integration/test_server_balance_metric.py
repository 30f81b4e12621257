"""The server's /metrics exports each key's credit balance, read from the ledger at scrape time."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.support.server import RunningServer

pytestmark = pytest.mark.integration


def balance_metric(server: RunningServer, key: str) -> float | None:
    label = hashlib.sha256(key.encode()).hexdigest()[:12]
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith(f'bgcut_server_credits_balance{{key="{label}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_balance_gauge_follows_the_ledger(server: RunningServer) -> None:
    """The gauge shows a funded key's balance (not 0) and follows top-ups; keys never appear."""
    assert balance_metric(server, "test-key") == server.balance("test-key") == 1000
    server.add_credits("test-key", 2.5)
    assert balance_metric(server, "test-key") == 1002.5
    assert "test-key" not in httpx.get(f"{server.url}/metrics").text
