"""Prometheus metrics of the stream service (``bgcut_`` prefix), on a registry per service."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    ProcessCollector,
)

from bgcut_stream.observability.slots import SlotMeter

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
STALL_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5)


class StreamMetrics:
    """Every metric the service exports; names are what dashboards and alerts query."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        # process_* (CPU, memory, fds) and python_gc_*: objects the collector frees rising with
        # the job rate means per-job reference cycles, which stall the event loop (README)
        ProcessCollector(registry=r)
        GCCollector(registry=r)
        self.jobs = Counter(
            "bgcut_jobs_total",
            "Jobs finished, by outcome (succeeded or the dead-letter reason).",
            ["outcome"],
            registry=r,
        )
        self.credits_spent = Counter(
            "bgcut_credits_spent_total",
            "Credits charged by the API, by job outcome.",
            ["outcome"],
            registry=r,
        )
        self.uploads = Counter(
            "bgcut_uploads_total",
            "Images uploaded vs reused from the upload cache.",
            ["kind"],
            registry=r,
        )
        self.api_latency = Histogram(
            "bgcut_api_request_duration_seconds",
            "BackgroundCut API call latency per attempt.",
            ["endpoint", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.api_retries = Counter(
            "bgcut_api_retries_total",
            "API attempts after the first, by endpoint.",
            ["endpoint"],
            registry=r,
        )
        self.job_latency = Histogram(
            "bgcut_job_end_to_end_seconds",
            "Event time (submitted_at) to result published.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.phase = Histogram(
            "bgcut_job_phase_seconds",
            "Time per job phase.",
            ["phase"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # bgcut_jobs_in_flight, its limit and bgcut_slot_busy_seconds_total (observability.slots)
        self.slots = SlotMeter()
        r.register(self.slots)
        self.lag = Gauge(
            "bgcut_consumer_lag",
            "Records behind the partition end.",
            ["topic", "partition"],
            registry=r,
        )
        self.committed = Gauge(
            "bgcut_committed_offset", "Last committed offset.", ["topic", "partition"], registry=r
        )
        self.dlq = Counter(
            "bgcut_dlq_records_total",
            "Records sent to dead-letter topics, by reason.",
            ["reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "bgcut_duplicate_jobs_total",
            "Jobs skipped because their job_id already has a terminal event.",
            registry=r,
        )
        self.producer_replacements = Counter(
            "bgcut_producer_replacements_total",
            "Transactional producers replaced after a call hung past its timeout.",
            registry=r,
        )
        self.downloaded = Counter(
            "bgcut_downloaded_bytes_total",
            "Output bytes downloaded into the artifact store.",
            registry=r,
        )
        self.registry_retries = Counter(
            "bgcut_schema_registry_retries_total",
            "Decodes or encodes retried because the Schema Registry was unreachable.",
            registry=r,
        )
        self.loop_lag = Histogram(
            "bgcut_event_loop_lag_seconds",
            "How late the event loop ran a timer that was due (sampled about every 0.5 s).",
            buckets=STALL_BUCKETS,
            registry=r,
        )
        self.gc_pause = Histogram(
            "bgcut_gc_pause_seconds",
            "Duration of each cyclic garbage collection (any thread: it pauses the loop too).",
            ["generation"],
            buckets=STALL_BUCKETS,
            registry=r,
        )
        self.ready = Gauge(
            "bgcut_ready", "1 when the service consumes and its API key works.", registry=r
        )
        self.auth_paused = Gauge(
            "bgcut_auth_paused", "1 while consumption is paused on a 401.", registry=r
        )
        for reason in ("payment-required", "not-found", "invalid", "exhausted", "internal"):
            self.dlq.labels(reason)
            self.jobs.labels(reason)
        self.jobs.labels("succeeded")
        for kind in ("made", "reused"):
            self.uploads.labels(kind)
