"""Prometheus metrics of the server, on a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


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
