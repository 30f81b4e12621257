"""Fetch a job's image: inline bytes, file:// (when allowed), http(s):// and s3:// URIs.

URLs pass an allow-list of schemes and hosts, and by default may not resolve to private,
loopback or link-local addresses (no SSRF into the cluster). HTTP fetches go through the egress
guard (``net.egress``): the host is resolved once, checked, and connected to by that address, so
a rebinding DNS answer cannot slip in a second one; redirects are not followed. ``s3://``
requests are checked in boto3's ``before-send`` hook: the host boto3 is about to connect to must
be on the allow-list and public, except the configured ``S3_ENDPOINT_URL`` origin itself (the
operator's own endpoint may be private). boto3 resolves that host again when it connects; the
check bounds where it may go, it does not pin the S3 connection.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from bgcut_stream.events.jobs import InlineSource, Source, UriSource
from bgcut_stream.net.egress import EgressDenied, EgressPolicy, guarded_client, origin_of
from bgcut_stream.stream.exceptions import SourceError
from bgcut_stream.stream.settings import StreamSettings


@dataclass(frozen=True)
class FetchedImage:
    """Image bytes, their sha256, and a cache key for the source when it has one."""

    data: bytes
    sha256: str
    filename: str | None


def _content(data: bytes, filename: str | None) -> FetchedImage:
    return FetchedImage(data, hashlib.sha256(data).hexdigest(), filename)


class SourceFetcher:
    """Applies the allow-list and limits of the settings to every fetch."""

    def __init__(self, settings: StreamSettings, http: httpx.AsyncClient | None = None) -> None:
        """``http`` is ignored (kept for callers): fetches use a guarded client of our own."""
        self.settings = settings
        endpoint = origin_of(settings.s3_endpoint_url) if settings.s3_endpoint_url else None
        self.policy = EgressPolicy(
            hosts=frozenset(settings.hosts),
            trusted=frozenset({endpoint}) if endpoint else frozenset(),
            allow_private=settings.allow_private_sources,
            what="source",
            hint="; set BGCUT_ALLOW_PRIVATE_SOURCES=true to allow it",
        )
        self._http = guarded_client(self.policy, timeout=settings.source_timeout_s)

    async def aclose(self) -> None:
        """Close the guarded HTTP client."""
        await self._http.aclose()

    async def validator(self, source: Source) -> str | None:
        """A cache key naming this exact version of a URI source (URI, ETag, size), or None.

        Asks the origin with HEAD (http) or HeadObject (s3), so a job whose image was uploaded
        before reuses that upload without downloading the image again. None when the origin
        gives no ETag or the probe fails (the image is then fetched and keyed by its sha256).
        """
        if not isinstance(source, UriSource):
            return None
        parts = urlsplit(source.uri)
        scheme = parts.scheme.lower()
        if scheme not in self.settings.schemes or scheme not in {"http", "https", "s3"}:
            return None
        if scheme == "s3":
            etag, size = await asyncio.to_thread(
                self._head_s3, parts.netloc, parts.path.lstrip("/")
            )
        else:
            etag, size = await self._head_http(source.uri)
        if not etag or etag.startswith("W/") or size is None:
            return None  # weak or missing validators do not prove the bytes are the same
        version = f"{source.uri}\n{etag}\n{size}"
        return "uri:" + hashlib.sha256(version.encode()).hexdigest()

    async def _head_http(self, url: str) -> tuple[str | None, int | None]:
        try:
            resp = await self._http.head(url, timeout=self.settings.source_timeout_s)
        except (httpx.TransportError, EgressDenied):
            return None, None  # fetch() reports why
        if resp.status_code != httpx.codes.OK:  # anything else: no usable validator
            return None, None
        length = resp.headers.get("content-length")
        return resp.headers.get("etag"), int(length) if length and length.isdigit() else None

    @cached_property
    def _s3(self) -> Any:  # boto3 clients are untyped
        """One S3 client for every s3:// probe and read (boto3 clients are thread-safe)."""
        import boto3  # noqa: PLC0415 - optional dependency, only for s3:// sources

        client = boto3.client("s3", endpoint_url=self.settings.s3_endpoint_url)
        client.meta.events.register("before-send.s3", self._check_s3_request)
        return client

    def _check_s3_request(self, request: Any, **_: Any) -> None:
        """boto3 hook: the host this S3 request goes to passes the source policy."""
        parts = urlsplit(request.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.policy.resolve_blocking(parts.hostname or "", port)

    def _head_s3(self, bucket: str, key: str) -> tuple[str | None, int | None]:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - imported when used (start-up stays light)

        try:
            head = self._s3.head_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError, EgressDenied, httpcore.ConnectError):
            return None, None
        return head.get("ETag"), int(head["ContentLength"])

    async def fetch(self, source: Source) -> FetchedImage:
        """The image bytes of an inline or URI source."""
        if isinstance(source, InlineSource):
            if len(source.data) > self.settings.max_source_bytes:
                raise SourceError(
                    f"inline image of {len(source.data)} bytes exceeds "
                    f"{self.settings.max_source_bytes}",
                    retriable=False,
                )
            return _content(source.data, source.filename)
        if not isinstance(source, UriSource):
            raise SourceError("source has no bytes to fetch", retriable=False)
        parts = urlsplit(source.uri)
        scheme = parts.scheme.lower()
        if scheme not in self.settings.schemes:
            raise SourceError(
                f"source scheme {scheme!r} is not allowed "
                f"(allowed: {sorted(self.settings.schemes)})",
                retriable=False,
            )
        name = Path(parts.path).name or None
        if scheme == "file":
            return _content(await asyncio.to_thread(self._read_file, Path(parts.path)), name)
        if scheme == "s3":
            return _content(
                await asyncio.to_thread(self._read_s3, parts.netloc, parts.path.lstrip("/")), name
            )
        return _content(await self._read_http(source.uri), name)

    def _read_file(self, path: Path) -> bytes:
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror}", retriable=False) from exc
        if size > self.settings.max_source_bytes:
            raise SourceError(
                f"{path} is {size} bytes, over {self.settings.max_source_bytes}", retriable=False
            )
        return path.read_bytes()

    def _read_s3(self, bucket: str, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - imported when used (start-up stays light)

        client = self._s3
        try:
            head = client.head_object(Bucket=bucket, Key=key)
            if int(head["ContentLength"]) > self.settings.max_source_bytes:
                raise SourceError(
                    f"s3://{bucket}/{key} is over {self.settings.max_source_bytes} bytes",
                    retriable=False,
                )
            return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise SourceError(
                f"s3://{bucket}/{key}: {code}", retriable=code not in {"404", "NoSuchKey", "403"}
            ) from exc
        except BotoCoreError as exc:
            raise SourceError(f"s3://{bucket}/{key}: {exc}", retriable=True) from exc
        except EgressDenied as exc:
            raise SourceError(str(exc), retriable=False) from exc
        except httpcore.ConnectError as exc:  # the hook could not resolve the host
            raise SourceError(f"s3://{bucket}/{key}: {exc}", retriable=True) from exc

    async def _read_http(self, url: str) -> bytes:
        limit = self.settings.max_source_bytes
        try:
            async with self._http.stream(
                "GET", url, timeout=self.settings.source_timeout_s
            ) as resp:
                if resp.status_code >= 400:
                    raise SourceError(
                        f"GET {url}: HTTP {resp.status_code}",
                        retriable=resp.status_code >= 500 or resp.status_code == 429,
                    )
                if resp.status_code >= 300:
                    raise SourceError(
                        f"GET {url}: HTTP {resp.status_code} (redirects are not followed)",
                        retriable=False,
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise SourceError(f"GET {url}: body over {limit} bytes", retriable=False)
                    chunks.append(chunk)
        except EgressDenied as exc:
            raise SourceError(str(exc), retriable=False) from exc
        except httpx.TransportError as exc:
            raise SourceError(f"GET {url}: {type(exc).__name__}", retriable=True) from exc
        return b"".join(chunks)
