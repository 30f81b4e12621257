"""Stream an output URL to a file: size limit, content-type check, sha256 on the way.

Redirects are followed here, a few at most, each target checked against the egress policy of
the client (``net.egress``: the API's host and the configured CDN hosts, public addresses,
connection pinned to the checked address); a refused target is a ``DownloadError``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from bgcut_stream.client.exceptions import DownloadError, error_for, map_exceptions
from bgcut_stream.net.egress import EgressDenied, follow


@dataclass(frozen=True)
class DownloadResult:
    """What was stored."""

    path: Path
    size: int
    sha256: str
    content_type: str


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


async def _copy(
    response: httpx.Response, sink: IO[bytes], url: str, max_bytes: int
) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise DownloadError(f"{url}: body exceeds the {max_bytes}-byte limit")
        digest.update(chunk)
        sink.write(chunk)
    return size, digest.hexdigest()


async def _open(http: httpx.AsyncClient, url: str) -> httpx.Response:
    async def send(target: str) -> httpx.Response:
        request = http.build_request("GET", target)
        return await http.send(request, stream=True, follow_redirects=False)

    try:
        return await follow(http, url, send)
    except EgressDenied as exc:
        raise DownloadError(f"{url}: refused: {exc}") from exc


def _commit(part: Path, destination: Path) -> None:
    part.replace(destination)


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)


async def download_to(
    http: httpx.AsyncClient,
    url: str,
    destination: Path,
    *,
    max_bytes: int,
    expected_content_type: str | None = None,
    expected_sha256: str | None = None,
    request_id: str = "",
) -> DownloadResult:
    """Download ``url`` to ``destination`` atomically (temp file + rename), enforcing limits."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=destination.parent, prefix=".part-")
    try:
        with map_exceptions("download", request_id), os.fdopen(fd, "wb") as sink:
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
        _commit(Path(tmp_name), destination)
    except BaseException:
        _discard(Path(tmp_name))
        raise
    return DownloadResult(destination, size, sha, content_type)
