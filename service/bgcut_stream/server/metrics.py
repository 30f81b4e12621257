"""Prometheus metrics of the server, on a registry of its own (one per app)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class _Transactions(Protocol):
    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...


class _Balances(Collector):
    """Credits left per account, read from the ledger at scrape time (always current)."""

    def __init__(self, db: _Transactions) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "bgcut_server_credits_balance",
            "Credits left per API key (key: first 12 hex digits of its sha256, never the key).",
            labels=["key"],
        )
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT key_hash, half_credits FROM accounts").fetchall()
        for hashed, half_credits in rows:
            family.add_metric([str(hashed)[:12]], half_credits / 2)
        yield family


class ServerMetrics:
    """Request counts and latency by endpoint and status, credits, inferences, injected faults."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "bgcut_server_requests_total",
            "API requests by endpoint and status code.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "bgcut_server_request_duration_seconds",
            "API request latency by endpoint.",
            ["endpoint"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.credits = Counter(
            "bgcut_server_credits_charged_total",
            "Credits charged (net of refunds).",
            registry=self.registry,
        )
        self.inferences = Counter(
            "bgcut_server_inferences_total",
            "U2-Net-p model runs (mask cache misses).",
            registry=self.registry,
        )
        self.faults = Counter(
            "bgcut_server_faults_injected_total",
            "Injected faults by endpoint and status.",
            ["endpoint", "status"],
            registry=self.registry,
        )

    def track_balances(self, db: _Transactions) -> None:
        """Export every account's balance as ``bgcut_server_credits_balance{key}``."""
        self.registry.register(_Balances(db))
