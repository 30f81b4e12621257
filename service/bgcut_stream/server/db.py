"""One SQLite database in the data dir: accounts, uploads and presign tokens."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    key_hash TEXT PRIMARY KEY,
    half_credits INTEGER NOT NULL CHECK (half_credits >= 0)
);
CREATE TABLE IF NOT EXISTS uploads (
    unique_filename TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    extension TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS spent_tokens (
    jti TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS presign_tokens (
    jti TEXT PRIMARY KEY,
    operation TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    body TEXT,
    expires_at REAL NOT NULL,
    spent INTEGER NOT NULL DEFAULT 0
);
"""


class Database:
    """A serialised SQLite connection (WAL); each ``transaction()`` is atomic."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements under one lock in one ``BEGIN IMMEDIATE`` transaction."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
