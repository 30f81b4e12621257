"""Uploaded images and generated outputs on disk, with expiry.

Layout under the data dir: ``uploads/<unique_filename>/input.<ext>`` (plus cached masks) and
``outputs/<id>/<name>.<ext>``. Upload rows live in SQLite; outputs expire by file age.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bgcut_stream.imaging.decode import ImageInfo
from bgcut_stream.server.db import Database
from bgcut_stream.server.exceptions import NotFound

NOT_FOUND_DETAIL = "unique_filename not found or expired. Re-upload the image."


@dataclass(frozen=True)
class Upload:
    """A stored upload (an image for remove-bg, or an AI Cut session)."""

    unique_filename: str
    kind: str
    key_hash: str
    extension: str
    width: int
    height: int
    sha256: str
    folder: Path

    @property
    def input_path(self) -> Path:
        """The original bytes as uploaded."""
        return self.folder / f"input.{self.extension}"

    @property
    def relative_input(self) -> str:
        """Path of the input below the files route."""
        return f"uploads/{self.unique_filename}/input.{self.extension}"


class UploadStore:
    """Save, look up and expire uploads."""

    def __init__(self, db: Database, root: Path, ttl_s: float) -> None:
        self._db = db
        self.root = root / "uploads"
        self.root.mkdir(parents=True, exist_ok=True)
        self.ttl_s = ttl_s

    def save(self, data: bytes, info: ImageInfo, kind: str, key_hash: str) -> Upload:
        """Store ``data`` under a new unique_filename."""
        name = str(uuid.uuid4())
        folder = self.root / name
        folder.mkdir()
        upload = Upload(
            name,
            kind,
            key_hash,
            info.extension,
            info.width,
            info.height,
            hashlib.sha256(data).hexdigest(),
            folder,
        )
        upload.input_path.write_bytes(data)
        now = time.time()
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    kind,
                    key_hash,
                    info.extension,
                    info.width,
                    info.height,
                    upload.sha256,
                    now,
                    now + self.ttl_s,
                ),
            )
        return upload

    def get(self, unique_filename: str, kind: str, key_hash: str | None = None) -> Upload:
        """The live upload, or NotFound (unknown, expired, other kind, or another key's)."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT kind, key_hash, extension, width, height, sha256, expires_at "
                "FROM uploads WHERE unique_filename = ?",
                (unique_filename,),
            ).fetchone()
        if row is None or row[0] != kind or row[6] < time.time():
            raise NotFound(NOT_FOUND_DETAIL)
        if key_hash is not None and row[1] != key_hash:
            raise NotFound(NOT_FOUND_DETAIL)
        folder = self.root / unique_filename
        return Upload(unique_filename, row[0], row[1], row[2], row[3], row[4], row[5], folder)

    def expire(self, unique_filename: str) -> bool:
        """Expire an upload now (fault injection); returns whether it existed."""
        with self._db.transaction() as conn:
            changed = conn.execute(
                "UPDATE uploads SET expires_at = 0 WHERE unique_filename = ?", (unique_filename,)
            ).rowcount
        return changed > 0

    def expires_at(self, unique_filename: str) -> float | None:
        """When an upload expires, or None when unknown."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT expires_at FROM uploads WHERE unique_filename = ?", (unique_filename,)
            ).fetchone()
        return None if row is None else float(row[0])

    def purge_expired(self) -> int:
        """Delete expired uploads' rows and files; returns how many."""
        with self._db.transaction() as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT unique_filename FROM uploads WHERE expires_at < ?", (time.time(),)
                )
            ]
            conn.executemany("DELETE FROM uploads WHERE unique_filename = ?", [(n,) for n in names])
        for name in names:
            shutil.rmtree(self.root / name, ignore_errors=True)
        return len(names)


class OutputStore:
    """Generated files, served until ``ttl_s`` after they were written."""

    def __init__(self, root: Path, ttl_s: float) -> None:
        self.root = root / "outputs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.ttl_s = ttl_s

    def new_folder(self) -> tuple[str, Path]:
        """A fresh folder for one request's outputs and its id."""
        out_id = uuid.uuid4().hex
        folder = self.root / out_id
        folder.mkdir()
        return out_id, folder

    def purge_expired(self) -> int:
        """Delete output folders older than the TTL; returns how many."""
        cutoff = time.time() - self.ttl_s
        removed = 0
        for folder in self.root.iterdir():
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed

    def is_live(self, path: Path) -> bool:
        """Whether an output file exists and is younger than the TTL."""
        try:
            return path.stat().st_mtime >= time.time() - self.ttl_s
        except OSError:  # missing, or a name the file system refuses
            return False
