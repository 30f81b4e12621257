"""Where downloaded outputs are kept: a local folder (default) or S3-compatible storage."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit


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
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._staging = root / ".staging"
        self._staging.mkdir(exist_ok=True)

    @property
    def staging(self) -> Path:
        """Downloads land here first, then are renamed into place."""
        return self._staging

    async def put(self, local: Path, key: str, content_type: str) -> str:
        """Rename ``local`` to ``root/key`` (atomic on one filesystem)."""
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.move, local, target)
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
