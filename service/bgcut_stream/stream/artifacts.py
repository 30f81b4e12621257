"""Where downloaded outputs are kept: a local folder (default) or S3-compatible storage."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
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
    """Where a job's outputs go: a download lands at ``destination(key)``, then ``put``."""

    @property
    def local(self) -> bool:
        """Whether ``destination`` is already the final place (``put`` does no I/O)."""
        ...

    def destination(self, key: str) -> Path:
        """The file to download an output to (its folder may not exist yet)."""
        ...

    def put(self, downloaded: Path, key: str, content_type: str) -> str:
        """Make the downloaded file the artifact ``key``; its location URI (may block)."""
        ...

    def discard(self, downloaded: Path) -> None:
        """Remove a download that is not kept (blocking)."""
        ...


class LocalArtifactStore:
    """Files under a root folder; locations are ``file://`` URIs.

    Downloads go straight to their final path (part file + rename): placing one costs nothing.
    """

    local = True

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def destination(self, key: str) -> Path:
        """``root/key``, refused if it would leave the root (checked on the string: no I/O)."""
        target = Path(os.path.normpath(self.root / key))
        if not target.is_relative_to(self.root):
            raise ValueError(f"artifact key escapes the store root: {key!r}")
        return target

    def put(self, downloaded: Path, key: str, content_type: str) -> str:
        """The file is in place already: its URI."""
        return downloaded.as_uri()

    def discard(self, downloaded: Path) -> None:
        """Delete it."""
        downloaded.unlink(missing_ok=True)


class S3ArtifactStore:
    """Objects in an S3 bucket (any S3-compatible endpoint); locations are ``s3://`` URIs."""

    local = False

    def __init__(self, uri: str, endpoint_url: str | None, staging: Path) -> None:
        import boto3  # noqa: PLC0415 - optional dependency

        parts = urlsplit(uri)
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self._client = boto3.client("s3", endpoint_url=endpoint_url)
        self._staging = staging
        self._staging.mkdir(parents=True, exist_ok=True)

    def destination(self, key: str) -> Path:
        """A staging file (uploaded, then deleted, by ``put``)."""
        return self._staging / f"{secrets.token_hex(16)}{Path(key).suffix}"

    def put(self, downloaded: Path, key: str, content_type: str) -> str:
        """Upload to ``s3://bucket/prefix/key`` and delete the local copy."""
        object_key = f"{self.prefix}/{key}" if self.prefix else key
        self._client.upload_file(
            str(downloaded), self.bucket, object_key, ExtraArgs={"ContentType": content_type}
        )
        downloaded.unlink(missing_ok=True)
        return f"s3://{self.bucket}/{object_key}"

    def discard(self, downloaded: Path) -> None:
        """Delete the staging file."""
        downloaded.unlink(missing_ok=True)


def open_store(uri: str, s3_endpoint_url: str | None = None) -> ArtifactStore:
    """A store for ``file://path`` or ``s3://bucket/prefix``."""
    if uri.startswith("s3://"):
        return S3ArtifactStore(uri, s3_endpoint_url, Path(".bgcut/staging").resolve())
    return LocalArtifactStore(Path(uri.removeprefix("file://")).resolve())
