"""Credit balances per API key, kept as integer half-credits so 0.5 steps are exact."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from bgcut_stream.server.db import Database
from bgcut_stream.server.exceptions import BadRequest, PaymentRequired


def key_hash(api_key: str) -> str:
    """Keys are stored and compared as sha256 hex digests, never in clear."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def _half(credits: float) -> int:
    return round(credits * 2)


def parse_keys(spec: str) -> dict[str, float]:
    """Parse ``key:credits`` items separated by commas or newlines ('#' starts a comment)."""
    accounts: dict[str, float] = {}
    for raw in spec.replace(",", "\n").splitlines():
        item = raw.split("#", 1)[0].strip()
        if not item:
            continue
        key, sep, credits = item.rpartition(":")
        if not sep or not key:
            raise ValueError(f"bad key entry {item!r}: expected 'key:credits'")
        accounts[key.strip()] = float(credits)
    return accounts


def load_keys(spec: str, keys_file: Path | None) -> dict[str, float]:
    """Accounts from the env spec and the keys file (the file wins on conflicts)."""
    accounts = parse_keys(spec)
    if keys_file is not None:
        accounts.update(parse_keys(keys_file.read_text()))
    return accounts


class Ledger:
    """Atomic charges and refunds; a charge that would go negative is a 402 and changes nothing."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def seed(self, accounts: dict[str, float]) -> None:
        """Create accounts that do not exist yet; existing balances survive restarts untouched."""
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO accounts (key_hash, half_credits) VALUES (?, ?)",
                [(key_hash(k), _half(c)) for k, c in accounts.items()],
            )

    def exists(self, hashed: str) -> bool:
        """Whether the hashed key has an account."""
        with self._db.transaction() as conn:
            row = conn.execute("SELECT 1 FROM accounts WHERE key_hash = ?", (hashed,)).fetchone()
        return row is not None

    def balance(self, hashed: str) -> float:
        """Credits available to the hashed key (0 for unknown keys)."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT half_credits FROM accounts WHERE key_hash = ?", (hashed,)
            ).fetchone()
        return (row[0] if row else 0) / 2

    def charge(self, hashed: str, credits: float) -> None:
        """Take ``credits`` or raise PaymentRequired leaving the balance unchanged."""
        amount = _half(credits)
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT half_credits FROM accounts WHERE key_hash = ?", (hashed,)
            ).fetchone()
            available = row[0] if row else 0
            if available < amount:
                raise PaymentRequired(required=credits, available=available / 2)
            conn.execute(
                "UPDATE accounts SET half_credits = half_credits - ? WHERE key_hash = ?",
                (amount, hashed),
            )

    def add(self, hashed: str, credits: float) -> float:
        """Add (or create with) ``credits``; returns the new balance. Refunds use this too.

        A change that would leave the balance negative is a 400 and changes nothing.
        """
        with self._db.transaction() as conn:
            try:  # update first: an upsert checks its VALUES row (a negative one) first
                changed = conn.execute(
                    "UPDATE accounts SET half_credits = half_credits + ? WHERE key_hash = ?",
                    (_half(credits), hashed),
                ).rowcount
                if not changed:
                    conn.execute(
                        "INSERT INTO accounts (key_hash, half_credits) VALUES (?, ?)",
                        (hashed, _half(credits)),
                    )
            except sqlite3.IntegrityError as exc:
                raise BadRequest("credits: the balance cannot go below zero") from exc
            row = conn.execute(
                "SELECT half_credits FROM accounts WHERE key_hash = ?", (hashed,)
            ).fetchone()
        return float(row[0]) / 2
