"""``StreamService``: wires Kafka, the API client, the processor and observability together."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from confluent_kafka import Message, Producer

from bgcut_stream.client import AttemptInfo, BackgroundCutClient, ClientSettings
from bgcut_stream.events.codec import AvroCodec
from bgcut_stream.events.exceptions import EventError
from bgcut_stream.events.jobs import ImageJob
from bgcut_stream.events.results import ImageResult, JobError, PhaseTimings
from bgcut_stream.events.schemas import IMAGE_JOB, IMAGE_RESULT, Schema, bundled
from bgcut_stream.observability.http import HealthServer
from bgcut_stream.observability.metrics import StreamMetrics
from bgcut_stream.stream.artifacts import open_store
from bgcut_stream.stream.auth_gate import AuthGate
from bgcut_stream.stream.compacted import CompactedTable
from bgcut_stream.stream.consumer_loop import ConsumerLoop
from bgcut_stream.stream.dead_letters import dead_letter_headers
from bgcut_stream.stream.exceptions import INVALID, JobFailure
from bgcut_stream.stream.outcome import Outcome, OutRecord
from bgcut_stream.stream.processor import ATTEMPTS, JobProcessor
from bgcut_stream.stream.settings import StreamSettings
from bgcut_stream.stream.sources import SourceFetcher

log = structlog.get_logger(__name__)


def schema_registry(settings: StreamSettings) -> Any | None:
    """A Schema Registry client when ``SCHEMA_REGISTRY_URL`` is set."""
    if not settings.schema_registry_url:
        return None
    from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: PLC0415

    return SchemaRegistryClient({"url": settings.schema_registry_url})


class StreamService:
    """Consumes jobs until ``stop`` is set, then drains and closes everything."""

    def __init__(
        self,
        settings: StreamSettings,
        client_settings: ClientSettings,
        *,
        known_job_writers: list[Schema] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = StreamMetrics()
        registry = schema_registry(settings)
        self.jobs_codec = AvroCodec(
            bundled(IMAGE_JOB),
            known_writers=known_job_writers,
            registry=registry,
            subject=f"{settings.jobs_topic}-value",
        )
        self.results_codec = AvroCodec(
            bundled(IMAGE_RESULT), registry=registry, subject=f"{settings.results_topic}-value"
        )
        producer_config = {"enable.idempotence": True, "linger.ms": 5, "compression.type": "zstd"}
        self.producer = Producer(settings.kafka(**producer_config))
        self.exactly_once = settings.delivery == "exactly-once"
        self._results_config = settings.kafka(
            **producer_config,
            **{"transactional.id": settings.transactional(), "transaction.timeout.ms": 60_000},
        )
        self.client = BackgroundCutClient(client_settings, on_attempt=self._on_attempt)
        self.gate = AuthGate(
            self.client.presign_upload, settings.auth_retry_interval_s, self._on_auth_change
        )
        self.cache = CompactedTable(settings.kafka(), settings.uploads_topic, self.producer)
        self.done = CompactedTable(settings.kafka(), settings.done_table, None)
        self._claims: dict[str, asyncio.Future[None]] = {}
        self._sources_http = httpx.AsyncClient(follow_redirects=False)
        self.processor = JobProcessor(
            client=self.client,
            fetcher=SourceFetcher(settings, self._sources_http),
            cache=self.cache,
            store=open_store(settings.artifact_store, settings.s3_endpoint_url),
            metrics=self.metrics,
            gate=self.gate,
            attempts=settings.job_attempts,
            backoff_s=settings.job_retry_backoff_s,
            max_artifact_bytes=settings.max_artifact_bytes,
        )
        self.health = HealthServer(
            settings.metrics_host, settings.metrics_port, self.metrics.registry, self.readiness
        )
        self.loop_thread: ConsumerLoop | None = None
        self._cache_ready = False

    def _results_producer(self) -> Producer:
        """The producer that publishes results: transactional, or the shared one."""
        return Producer(self._results_config) if self.exactly_once else self.producer

    def _on_attempt(self, info: AttemptInfo) -> None:
        self.metrics.api_latency.labels(info.endpoint, str(info.status or "error")).observe(
            info.latency_s
        )
        if info.attempt > 1:
            self.metrics.api_retries.labels(info.endpoint).inc()
        counter = ATTEMPTS.get()
        if counter is not None:
            counter[0] += 1

    def _on_auth_change(self, paused: bool) -> None:
        self.metrics.auth_paused.set(1 if paused else 0)
        self.metrics.ready.set(0 if paused else 1)

    def readiness(self) -> tuple[bool, str]:
        """Ready when the upload cache is restored, the consumer runs and the key works."""
        if not self._cache_ready:
            return False, "restoring upload cache"
        if self.loop_thread is None or not self.loop_thread.running.is_set():
            return False, "consumer not running"
        if self.gate.paused:
            return False, "API key rejected (401): consumption paused"
        return True, "ready"

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set (or the consumer thread dies), then shut down cleanly."""
        self.health.start()
        try:
            restored = await asyncio.to_thread(self.cache.start)
            done = await asyncio.to_thread(self.done.start)
            self._cache_ready = True
            log.info(
                "tables_restored", uploads=restored, done_jobs=done, delivery=self.settings.delivery
            )
            self.loop_thread = ConsumerLoop(
                settings=self.settings,
                new_producer=self._results_producer,
                loop=asyncio.get_running_loop(),
                job=self._handle,
                metrics=self.metrics,
                paused=lambda: self.gate.paused,
                on_dropped=self._forget_uncommitted,
            )
            self.loop_thread.start()
            self.metrics.ready.set(1)
            while not stop.is_set() and self.loop_thread.is_alive():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
                except TimeoutError:
                    continue
            log.info("shutting_down", drain_timeout_s=self.settings.drain_timeout_s)
            self.loop_thread.stop()
            await asyncio.to_thread(self.loop_thread.join)
            if self.loop_thread.error is not None:
                raise self.loop_thread.error
        finally:
            self.metrics.ready.set(0)
            self.cache.close()
            self.done.close()
            await asyncio.to_thread(self.producer.flush, 30)
            await self.client.aclose()
            await self._sources_http.aclose()
            self.health.stop()

    async def _handle(self, msg: Message) -> Outcome:
        """One record: decode, skip duplicates, process; return the records to publish."""
        structlog.contextvars.bind_contextvars(
            topic=msg.topic(), partition=msg.partition(), offset=msg.offset()
        )
        self.metrics.in_flight.inc()
        job: ImageJob | None = None
        try:
            try:
                job = ImageJob.from_record(self.jobs_codec.decode(msg.value()))
                structlog.contextvars.bind_contextvars(job_id=job.job_id)
                if await self._already_done(job.job_id):
                    self.metrics.duplicates.inc()
                    log.info("duplicate_job_skipped")
                    return Outcome()
                claim = self._claims[job.job_id] = asyncio.get_running_loop().create_future()
                try:
                    result = await self.processor.run(job)
                    failure = None
                finally:
                    claim.set_result(None)
                    self._claims.pop(job.job_id, None)
            except EventError as exc:
                failure = JobFailure(INVALID, str(exc), 400)
                result = self._failed(msg, job, failure)
            except JobFailure as exc:
                failure = exc
                result = self._failed(msg, job, failure)
            self._count(result, failure, job)
            return self._outcome(msg, result, failure)
        finally:
            self.metrics.in_flight.dec()

    def _forget_uncommitted(self, records: list[OutRecord]) -> None:
        """Jobs finished here but never committed will run again: unmark them as done."""
        for record in records:
            if record.topic == self.settings.done_table and record.key is not None:
                self.done.discard(record.key.decode())

    async def _already_done(self, job_id: str) -> bool:
        """Whether ``job_id`` already has a terminal event (or is running here right now)."""
        running = self._claims.get(job_id)
        if running is not None:
            await asyncio.shield(running)
            return True
        return self.done.get(job_id) is not None

    def _outcome(self, msg: Message, result: ImageResult, failure: JobFailure | None) -> Outcome:
        records = [
            OutRecord(
                self.settings.results_topic,
                result.job_id.encode(),
                self.results_codec.encode(result.to_record()),
            )
        ]
        if failure is not None:
            records.append(
                OutRecord(
                    self.settings.dlq_topic(failure.reason),
                    msg.key(),
                    msg.value(),
                    dead_letter_headers(
                        msg, failure.reason, failure.code, failure.detail, failure.attempts
                    ),
                )
            )
        self.done.remember(result.job_id, result.status)
        records.append(
            OutRecord(
                self.settings.done_table,
                result.job_id.encode(),
                CompactedTable.encode(result.status),
            )
        )
        return Outcome(tuple(records))

    def _failed(self, msg: Message, job: ImageJob | None, failure: JobFailure) -> ImageResult:
        job_id = (
            job.job_id
            if job
            else (msg.key() or b"").decode(errors="replace")
            or f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
        )
        structlog.contextvars.bind_contextvars(job_id=job_id)
        log.warning("job_failed", reason=failure.reason, status=failure.code, detail=failure.detail)
        return ImageResult(
            job_id=job_id,
            status="FAILED",
            credits_charged=failure.credits,
            attempts=failure.attempts,
            timings=PhaseTimings(),
            error=JobError(failure.code, failure.reason, failure.detail),
            metadata=dict(job.metadata) if job else {},
        )

    def _count(self, result: ImageResult, failure: JobFailure | None, job: ImageJob | None) -> None:
        outcome = "succeeded" if failure is None else failure.reason
        self.metrics.jobs.labels(outcome).inc()
        if result.credits_charged:
            self.metrics.credits_spent.labels(outcome).inc(result.credits_charged)
        if failure is not None:
            self.metrics.dlq.labels(failure.reason).inc()
            if failure.code == 402:
                available = _available_from(failure.detail)
                if available is not None:
                    self.metrics.credits_available.set(available)
        if job is not None:
            age = (datetime.now(UTC) - job.submitted_at).total_seconds()
            self.metrics.job_latency.observe(max(0.0, age))
        self.metrics.phase.labels("total").observe(result.timings.total_s)
        log.info(
            "job_done",
            outcome=outcome,
            credits=result.credits_charged,
            reused=result.upload_reused,
            attempts=result.attempts,
            total_s=round(result.timings.total_s, 3),
            at=time.time(),
        )


def _available_from(detail: str) -> float | None:
    marker = "available:"
    if marker not in detail:
        return None
    try:
        return float(detail.rsplit(marker, 1)[1].strip().rstrip("."))
    except ValueError:
        return None
