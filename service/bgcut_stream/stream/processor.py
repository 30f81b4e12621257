"""One job end to end: fetch, upload once (or reuse), process all variants, store the outputs."""

from __future__ import annotations

import asyncio
import contextvars
import io
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import structlog
from PIL import Image

from bgcut_stream.api.credits import process_cost
from bgcut_stream.api.models import OutputVariant, ProcessImageOut
from bgcut_stream.client import (
    BackgroundCutClient,
    BadRequest,
    BgcutError,
    DownloadError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PaymentRequired,
    Unauthorized,
)
from bgcut_stream.client.exceptions import ApiStatusError
from bgcut_stream.events.jobs import ImageJob, UploadedSource
from bgcut_stream.events.results import Artifact, ImageResult, PhaseTimings
from bgcut_stream.observability.metrics import StreamMetrics
from bgcut_stream.redaction import redact
from bgcut_stream.stream.artifacts import ArtifactStore, artifact_key
from bgcut_stream.stream.auth_gate import AuthGate
from bgcut_stream.stream.compacted import CompactedTable
from bgcut_stream.stream.exceptions import (
    EXHAUSTED,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    PAYMENT_REQUIRED,
    JobFailure,
    SourceError,
)
from bgcut_stream.stream.sources import FetchedImage, SourceFetcher

log = structlog.get_logger(__name__)
T = TypeVar("T")

# HTTP attempts made on behalf of the job running in this task (read by the client hook).
ATTEMPTS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "attempts", default=None
)


@dataclass
class _Progress:
    unique_filename: str | None = None
    fetched: FetchedImage | None = None
    version_key: str | None = None  # "uri:<hash of URI, ETag, size>" for URI sources
    reused: bool = False
    output: ProcessImageOut | None = None
    credits: float = 0.0


class JobProcessor:
    """Runs jobs against the API; raises JobFailure with the dead-letter reason on failure."""

    def __init__(
        self,
        *,
        client: BackgroundCutClient,
        fetcher: SourceFetcher,
        cache: CompactedTable,
        store: ArtifactStore,
        metrics: StreamMetrics,
        gate: AuthGate,
        attempts: int,
        backoff_s: float,
        max_artifact_bytes: int,
    ) -> None:
        self.client = client
        self.fetcher = fetcher
        self.cache = cache
        self.store = store
        self.metrics = metrics
        self.gate = gate
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_artifact_bytes = max_artifact_bytes
        self._uploading: dict[str, asyncio.Future[str | None]] = {}

    async def run(self, job: ImageJob) -> ImageResult:
        """Process ``job``; retriable failures are retried up to the job's budget."""
        counter = [0]
        ATTEMPTS.set(counter)
        started = time.perf_counter()
        timings = PhaseTimings()
        progress = _Progress()
        try:
            artifacts = await self._with_retries(job, progress, timings)
        except JobFailure as failure:
            failure.credits, failure.attempts = progress.credits, counter[0]
            raise
        timings.total_s = time.perf_counter() - started
        assert progress.output is not None
        return ImageResult(
            job_id=job.job_id,
            status="SUCCEEDED",
            unique_filename=progress.unique_filename,
            input_url=progress.output.input_url,
            artifacts=artifacts,
            credits_charged=progress.credits,
            upload_reused=progress.reused,
            attempts=counter[0],
            timings=timings,
            metadata=dict(job.metadata),
        )

    async def _with_retries(
        self, job: ImageJob, progress: _Progress, timings: PhaseTimings
    ) -> list[Artifact]:
        for attempt in range(1, self.attempts + 1):
            try:
                return await self._attempt(job, progress, timings)
            except (BgcutError, SourceError) as exc:
                failure = self._classify(exc)
                if failure is not None:
                    raise failure from exc
                if attempt == self.attempts:
                    raise JobFailure(
                        EXHAUSTED, f"{_describe(exc)} (after {attempt} tries)", _status(exc)
                    ) from exc
                log.warning("job_retry", attempt=attempt, error=redact(_describe(exc)))
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            except JobFailure:
                raise
            except Exception as exc:  # a bug or an environment fault: see below
                # Unexpected (a full disk, a bug): retried like a transient error, then a
                # terminal "internal" failure so that the partition moves on.
                if attempt == self.attempts:
                    raise JobFailure(
                        INTERNAL, f"{type(exc).__name__}: {exc} (after {attempt} tries)"
                    ) from exc
                log.warning("job_retry_unexpected", attempt=attempt, error=redact(f"{exc!r}")[:500])
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _classify(exc: BaseException) -> JobFailure | None:  # noqa: PLR0911 - one case per class
        """The terminal failure for an error, or None when it is worth another try."""
        if isinstance(exc, PaymentRequired):
            return JobFailure(PAYMENT_REQUIRED, exc.detail, 402)
        if isinstance(exc, NotFound):
            return JobFailure(NOT_FOUND, exc.detail, 404)
        if isinstance(exc, BadRequest | PayloadTooLarge):
            return JobFailure(INVALID, exc.detail, exc.status_code)
        if isinstance(exc, InvalidRequest):
            return JobFailure(INVALID, str(exc), 400)
        if isinstance(exc, SourceError) and not exc.retriable:
            return JobFailure(INVALID, f"source: {exc}", 0)
        if isinstance(exc, ApiStatusError) and not exc.retriable:
            return JobFailure(INVALID, exc.detail, exc.status_code)
        return None

    async def _authorized(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run an API call; on 401 wait at the auth gate and try again (never a job failure)."""
        while True:
            failed_at = time.monotonic()
            try:
                return await call()
            except Unauthorized as exc:
                await self.gate.wait_until_authorized(failed_at, exc)

    async def _source_upload(
        self, job: ImageJob, progress: _Progress, timings: PhaseTimings
    ) -> str:
        """The unique_filename for a job's source: by URI version (no fetch), else by bytes."""
        started = time.perf_counter()
        progress.version_key = await self.fetcher.validator(job.source)
        known = self.cache.get(progress.version_key) if progress.version_key else None
        if known is not None:
            timings.fetch_s += time.perf_counter() - started
            return self._reused(progress, known)
        await self._fetch(job, progress, timings, started)
        unique = await self._upload_once(progress, timings)
        if progress.version_key is not None:
            self.cache.put(progress.version_key, unique)
        return unique

    def _reused(self, progress: _Progress, unique: str) -> str:
        """Record that the job reuses an earlier upload."""
        progress.reused = True
        self.metrics.uploads.labels("reused").inc()
        return unique

    async def _fetch(
        self, job: ImageJob, progress: _Progress, timings: PhaseTimings, started: float
    ) -> None:
        progress.fetched = await self.fetcher.fetch(job.source)
        timings.fetch_s += time.perf_counter() - started
        self.metrics.phase.labels("fetch").observe(time.perf_counter() - started)

    async def _upload_once(self, progress: _Progress, timings: PhaseTimings) -> str:
        """Reuse an earlier upload of the same bytes, or join one in flight, or upload."""
        assert progress.fetched is not None
        sha = progress.fetched.sha256
        cached = self.cache.get(sha)
        if cached is None and sha in self._uploading:
            cached = await asyncio.shield(self._uploading[sha])
        if cached is not None:
            return self._reused(progress, cached)
        waiters: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._uploading[sha] = waiters
        try:
            unique = await self._upload(progress, timings)
        finally:
            del self._uploading[sha]
            # On failure the waiters get None and upload for themselves.
            waiters.set_result(self.cache.get(sha))
        return unique

    async def _upload(self, progress: _Progress, timings: PhaseTimings) -> str:
        fetched = progress.fetched
        assert fetched is not None
        started = time.perf_counter()
        unique = await self._authorized(
            lambda: self.client.upload_image(fetched.data, fetched.filename)
        )
        timings.upload_s += time.perf_counter() - started
        self.metrics.phase.labels("upload").observe(time.perf_counter() - started)
        self.metrics.uploads.labels("made").inc()
        self.cache.put(fetched.sha256, unique)
        progress.reused = False
        return unique

    async def _attempt(
        self, job: ImageJob, progress: _Progress, timings: PhaseTimings
    ) -> list[Artifact]:
        if progress.unique_filename is None:
            if isinstance(job.source, UploadedSource):
                progress.unique_filename, progress.reused = job.source.unique_filename, True
            else:
                progress.unique_filename = await self._source_upload(job, progress, timings)
        if progress.output is None:
            progress.output = await self._process(job, progress, timings)
        return await self._download(job, progress.output, timings)

    async def _process(
        self, job: ImageJob, progress: _Progress, timings: PhaseTimings
    ) -> ProcessImageOut:
        variants: list[OutputVariant] | None = job.output_variants
        started = time.perf_counter()
        try:
            output = await self._authorized(
                lambda: self.client.process_image(str(progress.unique_filename), variants)
            )
        except NotFound:
            if isinstance(job.source, UploadedSource):
                raise
            # The upload expired on the API side: forget it, upload again once, retry.
            log.info("upload_expired_reuploading", unique_filename=progress.unique_filename)
            if progress.version_key is not None:
                self.cache.forget(progress.version_key)
            if progress.fetched is None:  # reused by URI version without fetching: fetch now
                await self._fetch(job, progress, timings, time.perf_counter())
            assert progress.fetched is not None
            self.cache.forget(progress.fetched.sha256)
            progress.unique_filename = await self._upload(progress, timings)
            if progress.version_key is not None:
                self.cache.put(progress.version_key, progress.unique_filename)
            output = await self._authorized(
                lambda: self.client.process_image(str(progress.unique_filename), variants)
            )
        timings.process_s += time.perf_counter() - started
        self.metrics.phase.labels("process").observe(time.perf_counter() - started)
        progress.credits = process_cost(variants or [OutputVariant()])
        return output

    async def _download(
        self, job: ImageJob, output: ProcessImageOut, timings: PhaseTimings
    ) -> list[Artifact]:
        """Fetch every output variant at once and move each into the artifact store."""
        started = time.perf_counter()
        variants = {v.variant_name: v for v in (job.output_variants or [OutputVariant()])}
        artifacts = await asyncio.gather(
            *(
                self._store_variant(job, name, url, variants.get(name))
                for name, url in output.output_urls.items()
            )
        )
        timings.download_s += time.perf_counter() - started
        self.metrics.phase.labels("download").observe(time.perf_counter() - started)
        return list(artifacts)

    async def _store_variant(
        self, job: ImageJob, name: str, url: str, variant: OutputVariant | None
    ) -> Artifact:
        """Download one output to its place in the store; its size read from memory."""
        variant = variant or OutputVariant(variant_name=name)
        key = artifact_key(job.job_id, name, variant.extension)
        target = self.store.destination(key)
        try:
            result = await self.client.download(
                url,
                target,
                max_bytes=self.max_artifact_bytes,
                expected_content_type=variant.content_type,
            )
            size = _size_from_head(result.head)
            if size is None:  # a large output: its header is read from the file
                size = await asyncio.to_thread(_dimensions, target)
            if self.store.local:
                location = self.store.put(target, key, variant.content_type)
            else:
                location = await asyncio.to_thread(
                    self.store.put, target, key, variant.content_type
                )
        except BaseException:
            await asyncio.shield(asyncio.to_thread(self.store.discard, target))
            raise
        self.metrics.downloaded.inc(result.size)
        width, height = size
        return Artifact(
            name, location, variant.content_type, result.size, result.sha256, width, height
        )


def _size_from_head(head: bytes) -> tuple[int, int] | None:
    """An image's size from the start of its bytes (None when the header is not in them)."""
    if not head:
        return None
    try:
        with Image.open(io.BytesIO(head)) as image:
            return image.size
    except OSError:
        return None


def _dimensions(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except OSError as exc:
        raise DownloadError(f"downloaded output is not a readable image: {exc}") from exc


def _status(exc: BaseException) -> int:
    return exc.status_code if isinstance(exc, ApiStatusError) else 0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiStatusError):
        return f"{exc.status_code} {exc.detail} ({exc.endpoint})"
    return str(exc)
