"""``BackgroundCutClient``: every endpoint of BackgroundCut API v3, async, retried, observable."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import structlog
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from bgcut_stream.api import paths
from bgcut_stream.api.models import (
    AiCutInitializeOut,
    OutputVariant,
    PresignOut,
    ProcessImageIn,
    ProcessImageOut,
    SegmentIn,
    SegmentOut,
    UploadImageOut,
)
from bgcut_stream.client.download import DownloadResult, download_to
from bgcut_stream.client.exceptions import InvalidRequest, error_for, map_exceptions
from bgcut_stream.client.file_work import FileWork
from bgcut_stream.client.retry import with_retries
from bgcut_stream.client.segment import AiCutSession
from bgcut_stream.client.settings import ClientSettings
from bgcut_stream.client.transport import pooled_transport
from bgcut_stream.net.egress import download_client
from bgcut_stream.net.lean_client import LeanClient

log = structlog.get_logger(__name__)
DOWNLOADS_PER_CONNECTION = 4
Model = TypeVar("Model", bound=BaseModel)
ImageSource = bytes | Path | IO[bytes]

_MAGIC = ((b"\x89PNG", "png", "image/png"), (b"\xff\xd8", "jpg", "image/jpeg"))


@dataclass(frozen=True)
class AttemptInfo:
    """One HTTP attempt, reported to the ``on_attempt`` hook."""

    endpoint: str
    status: int | None
    latency_s: float
    attempt: int
    error: str | None


def _sniff(head: bytes) -> tuple[str, str]:
    for magic, ext, mime in _MAGIC:
        if head.startswith(magic):
            return ext, mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp", "image/webp"
    return "bin", "application/octet-stream"


class _ImageBody:
    """Multipart ``image`` field that can be rebuilt for every attempt when the source allows."""

    def __init__(self, source: ImageSource, filename: str | None) -> None:
        self.source = source
        self.filename = filename
        self._start = 0
        if isinstance(source, bytes | Path):
            self.rereadable = True
        else:
            self.rereadable = source.seekable()
            self._start = source.tell() if self.rereadable else 0

    def field(self) -> dict[str, Any]:
        """The ``files=`` argument for one attempt."""
        if isinstance(self.source, bytes):
            data: bytes | IO[bytes] = self.source
            head = self.source[:12]
        elif isinstance(self.source, Path):
            data = self.source.read_bytes()
            head = data[:12]
        elif self.rereadable:
            self.source.seek(self._start)
            head = self.source.read(12)
            self.source.seek(self._start)
            data = self.source
        else:
            data = self.source.read()
            head = data[:12]
        ext, mime = _sniff(head)
        name = self.filename or (
            self.source.name if isinstance(self.source, Path) else f"image.{ext}"
        )
        return {"image": (name, data, mime)}


class BackgroundCutClient:
    """Async client; use as ``async with BackgroundCutClient(settings) as client``.

    The API key is sent only to ``base_url`` and never appears in logs, reprs or exceptions.
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        on_attempt: Callable[[AttemptInfo], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings or ClientSettings()
        self._api_key = self.settings.current_api_key()
        self.on_attempt = on_attempt
        timeout = httpx.Timeout(
            connect=self.settings.connect_timeout_s,
            read=self.settings.read_timeout_s,
            write=self.settings.write_timeout_s,
            pool=self.settings.pool_timeout_s,
        )
        limits = httpx.Limits(
            max_connections=self.settings.max_connections,
            max_keepalive_connections=self.settings.max_connections,
        )
        self._http = LeanClient(
            base_url=self.settings.base_url,
            timeout=timeout,
            limits=limits,
            transport=transport or pooled_transport(self.settings.max_connections),
            trust_env=False,
        )
        # Uploads keep httpx's own pool: a server may answer (401, 413) before reading a body,
        # and httpcore still reads that answer after a failed write where aiohttp gives up.
        self._uploads = LeanClient(
            base_url=self.settings.base_url, timeout=timeout, limits=limits, transport=transport
        )
        # Egress guard: API and CDN hosts only, public addresses, pinned, no redirect off-list.
        # Variants download at once: room for several downloads per API connection.
        download_limits = httpx.Limits(
            max_connections=DOWNLOADS_PER_CONNECTION * self.settings.max_connections
        )
        self._urls: dict[str, httpx.URL] = {}  # API path -> URL merged with base_url once
        self._downloads = download_client(
            self.settings, timeout=timeout, limits=download_limits, transport=transport
        )
        # where downloads' part files are written and renamed
        self._files = FileWork(inline=self.settings.file_writes_inline)

    def __repr__(self) -> str:
        return f"BackgroundCutClient(base_url={self.settings.base_url!r})"

    async def __aenter__(self) -> BackgroundCutClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pools."""
        await self._http.aclose()
        await self._uploads.aclose()
        await self._downloads.aclose()

    def _auth_headers(self) -> dict[str, str]:
        key = self._api_key.get_secret_value()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _report(
        self, endpoint: str, status: int | None, started: float, attempt: int, error: str | None
    ) -> None:
        if self.on_attempt is not None:
            self.on_attempt(
                AttemptInfo(endpoint, status, time.perf_counter() - started, attempt, error)
            )

    async def _call(
        self,
        endpoint: str,
        path: str,
        out: type[Model],
        *,
        json: Any = None,
        image: _ImageBody | None = None,
        params: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Model:
        request_id = secrets.token_hex(16)
        url = self._urls.get(path)
        if url is None:  # httpx parses URLs in Python: merge each path once, not per call
            url = self._urls[path] = self._http.build_request("POST", path).url
        http = self._http if image is None else self._uploads

        async def attempt(attempt_no: int) -> Model:
            headers = {"X-Request-ID": request_id, **(self._auth_headers() if auth else {})}
            started = time.perf_counter()
            try:
                with map_exceptions(endpoint, request_id):
                    response = await http.post(
                        url,
                        json=json,
                        params=params,
                        headers=headers,
                        files=image.field() if image is not None else None,
                    )
            except Exception as exc:
                self._report(endpoint, None, started, attempt_no, type(exc).__name__)
                log.warning(
                    "api_attempt_failed",
                    endpoint=endpoint,
                    attempt=attempt_no,
                    error=type(exc).__name__,
                    request_id=request_id,
                )
                raise
            if response.status_code == HTTPStatus.UNAUTHORIZED and auth:
                # a rotated key: BGCUT_API_API_KEY_FILE is read again for the next call
                self._api_key = self.settings.current_api_key()
            if response.status_code >= 400:
                error = error_for(response, endpoint, request_id)
                self._report(endpoint, response.status_code, started, attempt_no, error.detail)
                log.warning(
                    "api_error",
                    endpoint=endpoint,
                    status=response.status_code,
                    attempt=attempt_no,
                    detail=error.detail,
                    request_id=request_id,
                )
                raise error
            self._report(endpoint, response.status_code, started, attempt_no, None)
            return out.model_validate(response.json())

        attempts = None if image is None or image.rereadable else 1
        return await with_retries(self.settings, attempt, attempts)

    @staticmethod
    def build_process(
        unique_filename: str, variants: Sequence[OutputVariant | dict[str, Any]] | None
    ) -> ProcessImageIn:
        """Validate a process request client-side: InvalidRequest before any credit is at risk."""
        try:
            return ProcessImageIn.model_validate(
                {
                    "unique_filename": unique_filename,
                    "output_variants": None
                    if variants is None
                    else [v.model_dump() if isinstance(v, OutputVariant) else v for v in variants],
                }
            )
        except PydanticValidationError as exc:
            raise InvalidRequest(str(exc)) from exc

    async def upload_image(self, image: ImageSource, filename: str | None = None) -> str:
        """Upload an image (bytes, a path, or a binary stream); returns its unique_filename."""
        out = await self._call(
            "upload", paths.UPLOAD, UploadImageOut, image=_ImageBody(image, filename)
        )
        return out.unique_filename

    async def process_image(
        self,
        unique_filename: str,
        variants: Sequence[OutputVariant | dict[str, Any]] | None = None,
    ) -> ProcessImageOut:
        """Process an upload into one or more variants (one credit + 0.5 per autocrop variant)."""
        body = self.build_process(unique_filename, variants)
        return await self._call(
            "process",
            paths.PROCESS,
            ProcessImageOut,
            json=body.model_dump(mode="json", exclude_none=False),
        )

    async def presign_upload(self) -> str:
        """Mint a single-use upload token (for a browser or mobile client)."""
        out = await self._call("upload_presign", paths.UPLOAD_PRESIGN, PresignOut)
        return out.signed_request

    async def upload_presigned(
        self, signed_request: str, image: ImageSource, filename: str | None = None
    ) -> str:
        """Upload with a presigned token (no Authorization header)."""
        out = await self._call(
            "upload_presigned",
            paths.UPLOAD_PRESIGNED,
            UploadImageOut,
            image=_ImageBody(image, filename),
            params={"signed_request": signed_request},
            auth=False,
        )
        return out.unique_filename

    async def presign_process(
        self,
        unique_filename: str,
        variants: Sequence[OutputVariant | dict[str, Any]] | None = None,
    ) -> str:
        """Mint a single-use process token with the variants baked in."""
        body = self.build_process(unique_filename, variants)
        out = await self._call(
            "process_presign", paths.PROCESS_PRESIGN, PresignOut, json=body.model_dump(mode="json")
        )
        return out.signed_request

    async def process_presigned(self, signed_request: str) -> ProcessImageOut:
        """Run a presigned process token (no Authorization header)."""
        return await self._call(
            "process_presigned",
            paths.PROCESS_PRESIGNED,
            ProcessImageOut,
            json={"signed_request": signed_request},
            auth=False,
        )

    async def ai_cut_initialize(
        self, image: ImageSource, filename: str | None = None
    ) -> AiCutInitializeOut:
        """Start an AI Cut session."""
        return await self._call(
            "ai_cut_initialize",
            paths.AI_CUT_INITIALIZE,
            AiCutInitializeOut,
            image=_ImageBody(image, filename),
        )

    async def presign_ai_cut_initialize(self) -> str:
        """Mint a single-use AI Cut initialize token."""
        out = await self._call(
            "ai_cut_initialize_presign", paths.AI_CUT_INITIALIZE_PRESIGN, PresignOut
        )
        return out.signed_request

    async def ai_cut_initialize_presigned(
        self, signed_request: str, image: ImageSource, filename: str | None = None
    ) -> AiCutInitializeOut:
        """Start an AI Cut session with a presigned token (no Authorization header)."""
        return await self._call(
            "ai_cut_initialize_presigned",
            paths.AI_CUT_INITIALIZE_PRESIGNED,
            AiCutInitializeOut,
            image=_ImageBody(image, filename),
            params={"signed_request": signed_request},
            auth=False,
        )

    async def ai_cut_segment(self, body: SegmentIn) -> SegmentOut:
        """One segment call as given (free, no auth). ``ai_cut_session`` tracks state for you."""
        return await self._call(
            "ai_cut_segment",
            paths.AI_CUT_SEGMENT,
            SegmentOut,
            json=body.model_dump(mode="json", by_alias=True),
            auth=False,
        )

    def ai_cut_session(self, unique_filename: str) -> AiCutSession:
        """A session object that accumulates dots and increments request_number."""
        return AiCutSession(unique_filename, self.ai_cut_segment)

    async def download(
        self,
        url: str,
        destination: Path,
        *,
        max_bytes: int | None = None,
        expected_content_type: str | None = None,
        expected_sha256: str | None = None,
    ) -> DownloadResult:
        """Stream a temporary output URL to ``destination`` (no API key is sent)."""
        return await download_to(
            self._downloads,
            url,
            destination,
            files=self._files,
            max_bytes=max_bytes or self.settings.max_download_bytes,
            expected_content_type=expected_content_type,
            expected_sha256=expected_sha256,
            request_id=secrets.token_hex(16),
        )
