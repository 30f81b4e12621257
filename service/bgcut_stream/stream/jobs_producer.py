"""Publish ImageJobs (used by ``bgcut-stream produce``, the demo, tests and benchmarks)."""

from __future__ import annotations

from confluent_kafka import Producer

from bgcut_stream.events.jobs import ImageJob
from bgcut_stream.events.registry import build_codecs
from bgcut_stream.stream.settings import StreamSettings


class JobPublisher:
    """Encodes jobs like upstream services do (registry framing when configured) and sends them."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self.codec = build_codecs(settings, check=False)[0]
        self.producer = Producer(settings.kafka(**{"enable.idempotence": True}))

    def send(self, job: ImageJob, key: str | None = None) -> None:
        """Queue one job, keyed by ``key`` (default: its job_id)."""
        self.producer.produce(
            self.settings.jobs_topic,
            key=(key or job.job_id).encode(),
            value=self.codec.encode(job.to_record()),
        )
        self.producer.poll(0)

    def send_raw(self, value: bytes, key: str | None = None) -> None:
        """Queue arbitrary bytes (poison records for tests)."""
        self.producer.produce(
            self.settings.jobs_topic, key=key.encode() if key else None, value=value
        )

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until everything queued is acknowledged."""
        remaining = self.producer.flush(timeout_s)
        if remaining:
            raise TimeoutError(f"{remaining} jobs not acknowledged within {timeout_s}s")
