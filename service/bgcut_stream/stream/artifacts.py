"""Where downloaded outputs are kept: a local folder (default) or S3-compatible storage."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
READABLE_CHARS = 48


def _segment(text: str, fallback: str) -> str:
    """A readable, filesystem- and S3-safe stand-in for ``text`` (no dots, slashes or NULs)."""
    return _UNSAFE.sub("_", text)[:READABLE_CHARS].strip("_") or fallback


def artifact_key(job_id: str, variant_name: str, extension: str) -> str:
    """``<readable job_id>-<digest>/<variant>-<digest>.<ext>``: always inside the store's root.

    The digests (of the exact job_id and variant name) keep different ids apart even when
    their readable parts match (``a/b`` and ``a_b``); nothing of the raw id reaches a path.
    """
    job_digest = hashlib.sha256(job_id.encode(errors="surrogatepass")).hexdigest()[:32]
    name_digest = hashlib.sha256(variant_name.encode(errors="surrogatepass")).hexdigest()[:8]
    ext = _segment(extension, "bin")
    return (
        f"{_segment(job_id, 'job')}-{job_digest}/{_segment(variant_name, 'variant')}-"
        f"{name_digest}.{ext}"
    )


class ArtifactStore(Protocol):
    """Moves a finished local file to its final place and returns its URI."""

    async def put(self, local: Path, key: str, content_type: str) -> str:
        """Store ``local`` under ``key``; returns the stored location URI."""
        ...

    @property
    def staging(self) -> Path:
        """Folder for downloads in progress (same filesystem as the store when local)."""
        ...


class LocalArtifactStore:
    """Files under a root folder; locations are ``file://`` URIs."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._staging = root / ".staging"
        self._staging.mkdir(exist_ok=True)

    @property
    def staging(self) -> Path:
        """Downloads land here first, then are renamed into place."""
        return self._staging

    async def put(self, local: Path, key: str, content_type: str) -> str:
        """Rename ``local`` to ``root/key`` (atomic on one filesystem)."""
        return await asyncio.to_thread(self._move, local, key)

    def _move(self, local: Path, key: str) -> str:
        target = (self.root / key).resolve()
        if not target.is_relative_to(self.root):
            raise ValueError(f"artifact key escapes the store root: {key!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(local, target)
        return target.as_uri()


class S3ArtifactStore:
    """Objects in an S3 bucket (any S3-compatible endpoint); locations are ``s3://`` URIs."""

    def __init__(self, uri: str, endpoint_url: str | None, staging: Path) -> None:
        import boto3  # noqa: PLC0415 - optional dependency

        parts = urlsplit(uri)
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self._client = boto3.client("s3", endpoint_url=endpoint_url)
        self._staging = staging
        self._staging.mkdir(parents=True, exist_ok=True)

    @property
    def staging(self) -> Path:
        """Local folder for downloads before upload."""
        return self._staging

    async def put(self, local: Path, key: str, content_type: str) -> str:
        """Upload ``local`` to ``s3://bucket/prefix/key`` and delete the local copy."""
        object_key = f"{self.prefix}/{key}" if self.prefix else key
        await asyncio.to_thread(
            self._client.upload_file,
            str(local),
            self.bucket,
            object_key,
            ExtraArgs={"ContentType": content_type},
        )
        await asyncio.to_thread(local.unlink, missing_ok=True)
        return f"s3://{self.bucket}/{object_key}"


def open_store(uri: str, s3_endpoint_url: str | None = None) -> ArtifactStore:
    """A store for ``file://path`` or ``s3://bucket/prefix``."""
    if uri.startswith("s3://"):
        return S3ArtifactStore(uri, s3_endpoint_url, Path(".bgcut/staging").resolve())
    return LocalArtifactStore(Path(uri.removeprefix("file://")).resolve())
