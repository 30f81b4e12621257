"""Stream an output URL to a file: size limit, content-type check, sha256 on the way.

Redirects are followed here, a few at most, each target checked against the egress policy of
the client (``net.egress``: the API's host and the configured CDN hosts, public addresses,
connection pinned to the checked address); a refused target is a ``DownloadError``.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from bgcut_stream.client.exceptions import DownloadError, error_for, map_exceptions
from bgcut_stream.client.file_work import FileWork
from bgcut_stream.net.egress import EgressDenied, follow


@dataclass(frozen=True)
class DownloadResult:
    """What was stored."""

    path: Path
    size: int
    sha256: str
    content_type: str
    head: bytes = b""  # the first HEAD_BYTES of the body (enough to read an image's header)


def _check_headers(
    response: httpx.Response, url: str, max_bytes: int, expected_content_type: str | None
) -> str:
    content_type = str(response.headers.get("content-type", "")).split(";")[0].strip()
    if expected_content_type and content_type != expected_content_type:
        raise DownloadError(
            f"{url}: content type {content_type!r}, expected {expected_content_type!r}"
        )
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise DownloadError(f"{url}: {declared} bytes exceeds the {max_bytes}-byte limit")
    return content_type


SPILL_BYTES = 8 * 1024 * 1024  # bodies up to this size are buffered, then written at once
INLINE_BYTES = 1024 * 1024  # ... and up to this size written by ``FileWork`` inline
HEAD_BYTES = 256 * 1024


class _Sink:
    """Chunks kept in memory; past ``SPILL_BYTES`` they go to the part file (in a thread)."""

    def __init__(self, part: Path) -> None:
        self.part = part
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.file: IO[bytes] | None = None

    async def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.buffered += len(chunk)
        if self.buffered >= SPILL_BYTES:
            await asyncio.to_thread(self._flush)

    def _flush(self) -> None:
        if self.file is None:
            self.part.parent.mkdir(parents=True, exist_ok=True)
            self.file = self.part.open("wb")
        self.file.writelines(self.chunks)
        self.chunks, self.buffered = [], 0

    def finish(self, destination: Path) -> None:
        """Write what is buffered and move the part file into place (one blocking call)."""
        self._flush()
        assert self.file is not None
        self.file.close()
        self.part.replace(destination)

    def head(self, limit: int) -> bytes:
        """The first ``limit`` buffered bytes (empty once the body went to the file)."""
        if self.file is not None:
            return b""
        taken, size = [], 0
        for chunk in self.chunks:
            if size >= limit:
                break
            taken.append(chunk)
            size += len(chunk)
        return b"".join(taken)[:limit]

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
        self.part.unlink(missing_ok=True)


async def _copy(response: httpx.Response, sink: _Sink, url: str, max_bytes: int) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise DownloadError(f"{url}: body exceeds the {max_bytes}-byte limit")
        digest.update(chunk)
        await sink.write(chunk)
    return size, digest.hexdigest()


async def _open(http: httpx.AsyncClient, url: str) -> httpx.Response:
    async def send(target: httpx.URL) -> httpx.Response:
        request = http.build_request("GET", target)
        return await http.send(request, stream=True, follow_redirects=False)

    try:
        return await follow(http, url, send)
    except EgressDenied as exc:
        raise DownloadError(f"{url}: refused: {exc}") from exc


async def download_to(
    http: httpx.AsyncClient,
    url: str,
    destination: Path,
    *,
    files: FileWork,
    max_bytes: int,
    expected_content_type: str | None = None,
    expected_sha256: str | None = None,
    request_id: str = "",
) -> DownloadResult:
    """Download ``url`` to ``destination`` atomically (part file + rename), enforcing limits.

    The body is buffered in memory up to ``SPILL_BYTES`` and written in one go: a small one by
    ``files`` (inline while file calls are fast), a larger one by a worker thread (file creation
    can block on a busy disk; the event loop must not).
    """
    sink = _Sink(destination.parent / f".part-{secrets.token_hex(16)}")
    try:
        with map_exceptions("download", request_id):
            response = await _open(http, url)
            try:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_for(response, "download", request_id)
                if response.status_code >= 300:
                    raise DownloadError(
                        f"{url}: HTTP {response.status_code} without a usable target"
                    )
                content_type = _check_headers(response, url, max_bytes, expected_content_type)
                size, sha = await _copy(response, sink, url, max_bytes)
            finally:
                await response.aclose()
        if expected_sha256 is not None and sha != expected_sha256:
            raise DownloadError(f"{url}: sha256 {sha} does not match expected {expected_sha256}")
        head = sink.head(HEAD_BYTES)
        small = sink.file is None and sink.buffered <= INLINE_BYTES
        await files.run(sink.finish, destination, small=small)
    except BaseException:
        await asyncio.shield(asyncio.to_thread(sink.discard))
        raise
    return DownloadResult(destination, size, sha, content_type, head)
