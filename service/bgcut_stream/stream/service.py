"""``StreamService``: wiring only — Kafka, the API client, the job handler, observability."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import random

import structlog
from confluent_kafka import Producer

from bgcut_stream.client import AttemptInfo, BackgroundCutClient, ClientSettings
from bgcut_stream.events.registry import build_codecs
from bgcut_stream.events.schemas import Schema
from bgcut_stream.observability.http import HealthServer
from bgcut_stream.observability.metrics import StreamMetrics
from bgcut_stream.observability.stalls import GcPauses, wait_observing_lag
from bgcut_stream.stream.artifacts import open_store
from bgcut_stream.stream.auth_gate import AuthGate
from bgcut_stream.stream.compacted import CompactedTable
from bgcut_stream.stream.consumer_loop import ConsumerLoop
from bgcut_stream.stream.dedupe import Dedupe, DoneTable
from bgcut_stream.stream.handler import JobHandler
from bgcut_stream.stream.processor import ATTEMPTS, JobProcessor
from bgcut_stream.stream.settings import StreamSettings
from bgcut_stream.stream.sources import SourceFetcher

log = structlog.get_logger(__name__)
IO_WORKERS_MIN, IO_WORKERS_MAX = 8, 64
SUPERVISE_S = 0.5  # how often run() checks the consumer thread (and samples the loop's lag)
GC_GEN0_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)


def settle_heap() -> None:
    """Keep the garbage collector from stalling the event loop.

    Measured (``bench/pipeline_bench.py``, 256 in flight): full collections walked every object
    loaded at start-up and paused the loop for 40-100 ms each, delaying every in-flight
    response. The start-up heap is frozen (never scanned again) and young collections run less
    often; reference counting still frees almost everything at once. Process-wide, so the
    ``run`` command calls it (an embedding application decides for itself).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 10, 10)


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
        self.jobs_codec, self.results_codec = build_codecs(
            settings, known_job_writers=known_job_writers
        )
        # lz4, not zstd: librdkafka sets up a zstd context per batch, and this service's batches
        # are small (a few results and markers a transaction at low rates). Measured at 16 in
        # flight, 400 ms (bench/pipeline_bench.py's set-up, per-thread CPU from schedstat, 3
        # interleaved pairs): librdkafka's threads 0.30-0.32 -> 0.22-0.24 ms of CPU a job.
        producer_config = {"enable.idempotence": True, "linger.ms": 5, "compression.type": "lz4"}
        self.producer = Producer(settings.kafka(**producer_config))
        self.exactly_once = settings.delivery == "exactly-once"
        self._results_config = settings.kafka(
            **producer_config,
            **{"transactional.id": settings.transactional(), "transaction.timeout.ms": 60_000},
        )
        if "max_connections" not in client_settings.model_fields_set:
            # one API connection per in-flight job: the pool never queues a job's call
            client_settings = client_settings.model_copy(
                update={"max_connections": settings.max_in_flight}
            )
        self.client = BackgroundCutClient(client_settings, on_attempt=self._on_attempt)
        self.gate = AuthGate(
            self.client.presign_upload, settings.auth_retry_interval_s, self._on_auth_change
        )
        self.cache = CompactedTable(settings.kafka(), settings.uploads_topic, self.producer)
        self.done = DoneTable(settings.kafka(), settings.done_table, settings.dedupe_window_s)
        self.dedupe = Dedupe(self.done)
        self.fetcher = SourceFetcher(settings)
        processor = JobProcessor(
            client=self.client,
            fetcher=self.fetcher,
            cache=self.cache,
            store=open_store(settings.artifact_store, settings.s3_endpoint_url),
            metrics=self.metrics,
            gate=self.gate,
            attempts=settings.job_attempts,
            backoff_s=settings.job_retry_backoff_s,
            max_artifact_bytes=settings.max_artifact_bytes,
        )
        self.handler = JobHandler(
            settings=settings,
            jobs_codec=self.jobs_codec,
            results_codec=self.results_codec,
            processor=processor,
            dedupe=self.dedupe,
            metrics=self.metrics,
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
        # file work of the jobs (downloads written, artifacts placed) runs in worker threads:
        # enough of them that in-flight jobs do not queue behind each other
        workers = min(IO_WORKERS_MAX, max(IO_WORKERS_MIN, self.settings.max_in_flight // 2))
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="job-io")
        )
        gc_pauses = GcPauses(self.metrics.gc_pause)
        gc_pauses.start()
        try:
            restored = await asyncio.to_thread(self.cache.start)
            done = await asyncio.to_thread(self.done.start, self.settings.restore_timeout_s)
            self._cache_ready = True
            log.info(
                "tables_restored", uploads=restored, done_jobs=done, delivery=self.settings.delivery
            )
            self.loop_thread = ConsumerLoop(
                settings=self.settings,
                new_producer=self._results_producer,
                loop=asyncio.get_running_loop(),
                handler=self.handler,
                metrics=self.metrics,
                auth_paused=lambda: self.gate.paused,
                dropped=self.dedupe,
            )
            self.loop_thread.start()
            self.metrics.ready.set(1)
            while not stop.is_set() and self.loop_thread.is_alive():
                # jittered: samples do not fall in step with the 0.25 s commit interval
                await wait_observing_lag(
                    stop,
                    SUPERVISE_S * random.uniform(0.8, 1.2),  # noqa: S311 - timing jitter, not a secret
                    self.metrics.loop_lag,
                )
            log.info("shutting_down", drain_timeout_s=self.settings.drain_timeout_s)
            self.loop_thread.stop()
            await asyncio.to_thread(self.loop_thread.join)
            if self.loop_thread.error is not None:
                raise self.loop_thread.error
        finally:
            self.metrics.ready.set(0)
            gc_pauses.stop()
            self.cache.close()
            self.done.close()
            await asyncio.to_thread(self.producer.flush, 30)
            await self.client.aclose()
            await self.fetcher.aclose()
            self.health.stop()
