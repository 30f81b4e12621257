"""``JobHandler``: one consumed record in, its terminal records out (never an exception).

decode → dedupe (only ``SUCCEEDED`` job_ids are skipped) → process → outcome: a result, a dead
letter when it failed, a done marker when it succeeded, and the job's metrics and log line.
Anything unexpected becomes a ``FAILED`` result with reason ``internal`` so that every consumed
record ends in exactly one terminal event and its partition keeps moving.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TypeVar

import structlog
from confluent_kafka import Message

from bgcut_stream.events.exceptions import EventError, RegistryUnavailableError
from bgcut_stream.events.jobs import ImageJob
from bgcut_stream.events.results import ImageResult, JobError, PhaseTimings
from bgcut_stream.observability.metrics import StreamMetrics
from bgcut_stream.redaction import redact
from bgcut_stream.stream.dead_letters import dead_letter_headers
from bgcut_stream.stream.dedupe import Dedupe
from bgcut_stream.stream.exceptions import INTERNAL, INVALID, JobFailure
from bgcut_stream.stream.outcome import Outcome, OutRecord
from bgcut_stream.stream.processor import JobProcessor
from bgcut_stream.stream.settings import StreamSettings

log = structlog.get_logger(__name__)
MAX_DETAIL = 2000
REGISTRY_RETRY_S = 0.5
REGISTRY_RETRY_MAX_S = 30.0
T = TypeVar("T")


class Codec(Protocol):
    """What the handler needs of an Avro codec."""

    def decode(self, payload: bytes | None) -> dict[str, Any]: ...  # noqa: D102 - protocol member, described by the class
    def encode(self, record: dict[str, Any]) -> bytes: ...  # noqa: D102 - protocol member, described by the class


class JobHandler:
    """Turns a jobs-topic record into its Outcome."""

    def __init__(
        self,
        *,
        settings: StreamSettings,
        jobs_codec: Codec,
        results_codec: Codec,
        processor: JobProcessor,
        dedupe: Dedupe,
        metrics: StreamMetrics,
    ) -> None:
        self.settings = settings
        self.jobs_codec = jobs_codec
        self.results_codec = results_codec
        self.processor = processor
        self.dedupe = dedupe
        self.metrics = metrics
        self.slots = asyncio.Semaphore(settings.max_in_flight)  # API work at once
        metrics.slots.limit = settings.max_in_flight
        self._partition_slots: dict[tuple[str | None, int | None], asyncio.Semaphore] = {}

    async def __call__(self, msg: Message) -> Outcome:
        """Handle ``msg``; always returns its outcome (cancellation aside)."""
        structlog.contextvars.bind_contextvars(
            topic=msg.topic(), partition=msg.partition(), offset=msg.offset()
        )
        try:
            return await self._handle(msg)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: see the docstring
            error = exc
        return await self._registry_bound(partial(self.crashed, msg, error))

    async def _registry_bound(self, call: Callable[[], T]) -> T:
        """``call()``, retried while the Schema Registry is unreachable (never a job failure).

        The job keeps its slot and its offset stays uncommitted until the registry answers;
        a drain that outlasts it abandons the job, which then runs again (nothing is lost).
        """
        delay = REGISTRY_RETRY_S
        while True:
            try:
                return call()
            except RegistryUnavailableError as exc:
                log.warning("schema_registry_unavailable", error=str(exc), retry_in_s=delay)
                self.metrics.registry_retries.inc()
                await asyncio.sleep(delay)
                delay = min(REGISTRY_RETRY_MAX_S, delay * 2)

    async def _handle(self, msg: Message) -> Outcome:
        if msg.value() is None:  # a tombstone on a compacted jobs topic: a deletion, not a job
            log.info("tombstone_skipped")
            return Outcome()
        job: ImageJob | None = None
        try:
            record = await self._registry_bound(partial(self.jobs_codec.decode, msg.value()))
            job = ImageJob.from_record(record)
        except EventError as exc:
            failure = JobFailure(INVALID, str(exc), 400)
            return await self._registry_bound(partial(self._finish, msg, None, None, failure))
        structlog.contextvars.bind_contextvars(job_id=job.job_id)
        if not await self.dedupe.claim(job.job_id):
            self.metrics.duplicates.inc()
            log.info("duplicate_job_skipped")
            return Outcome()
        succeeded = False
        try:
            # only the API work holds a slot: its partition's first (records may be handed
            # over beyond the per-partition cap; they queue here in offset order), then one
            # of the global ones
            async with self._partition_slot(msg), self.slots:
                self.metrics.slots.acquired()
                try:
                    result = await self.processor.run(job)
                finally:
                    self.metrics.slots.released()
            succeeded = True
        except JobFailure as exc:
            return await self._registry_bound(partial(self._finish, msg, job, None, exc))
        finally:
            self.dedupe.release(job.job_id, succeeded)
        return await self._registry_bound(partial(self._finish, msg, job, result, None))

    def _partition_slot(self, msg: Message) -> asyncio.Semaphore:
        key = (msg.topic(), msg.partition())
        slot = self._partition_slots.get(key)
        if slot is None:
            slot = asyncio.Semaphore(self.settings.per_partition_cap)
            self._partition_slots[key] = slot
        return slot

    def crashed(self, msg: Message, exc: BaseException) -> Outcome:
        """The outcome of a record whose handling raised: an ``internal`` failure."""
        log.error("job_crashed", error=redact(repr(exc))[:MAX_DETAIL])
        try:
            job = ImageJob.from_record(self.jobs_codec.decode(msg.value()))
        except Exception:  # noqa: BLE001 - the job_id then comes from the record's key
            job = None
        failure = JobFailure(INTERNAL, f"{type(exc).__name__}: {exc}")
        return self._finish(msg, job, None, failure)

    def _finish(
        self,
        msg: Message,
        job: ImageJob | None,
        result: ImageResult | None,
        failure: JobFailure | None,
    ) -> Outcome:
        """The job's terminal records, then its metrics and log lines.

        Encoding (which may raise ``RegistryUnavailableError`` and be retried) comes first, so
        a retried call counts and logs the job once.
        """
        if failure is not None:
            failure.detail = redact(failure.detail)[:MAX_DETAIL]
            result = self._failed(msg, job, failure)
        assert result is not None
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
            log.warning(
                "job_failed", reason=failure.reason, status=failure.code, detail=failure.detail
            )
        else:
            records.append(Dedupe.marker(self.settings.done_table, result.job_id))
        self._count(result, failure, job)
        return Outcome(tuple(records))

    def _failed(self, msg: Message, job: ImageJob | None, failure: JobFailure) -> ImageResult:
        job_id = (
            job.job_id
            if job
            else (msg.key() or b"").decode(errors="replace")
            or f"{msg.topic()}/{msg.partition()}/{msg.offset()}"
        )
        structlog.contextvars.bind_contextvars(job_id=job_id)
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
