"""Short-lived, single-use ``signed_request`` tokens: an opaque id plus an HMAC over it.

The token carries nothing about the key or the request: ``<id>.<HMAC-SHA256(secret, id)>``.
What it grants (operation, the hashed key to charge, a baked process body, expiry) lives in the
server's SQLite database under that id, so a token handed to a browser gives nothing to attack
offline. A token is spent by its first use, whether that use succeeds or fails (a failed call
needs a new token: a retried token would let one token be tried any number of times).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgcut_stream.server.db import Database
from bgcut_stream.server.exceptions import Unauthorized

_INVALID = "Invalid signed_request"
_MAX_TOKEN_CHARS = 256


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_or_create_secret(data_dir: Path) -> bytes:
    """The HMAC secret kept in ``data_dir/presign.secret`` (0600), created on first use."""
    path = data_dir / "presign.secret"
    if path.exists():
        return path.read_bytes()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    path.touch(mode=0o600)
    path.write_bytes(secret)
    return secret


@dataclass(frozen=True)
class SignedGrant:
    """What a verified token allows: one operation, charged to one key, maybe with a body."""

    operation: str
    key_hash: str
    jti: str
    expires_at: float
    body: dict[str, Any] | None


class Presigner:
    """Mint and redeem tokens; redeeming marks the token spent so a second use fails."""

    def __init__(self, secret: bytes, db: Database, ttl_s: float) -> None:
        self._secret = secret
        self._db = db
        self.ttl_s = ttl_s

    def mint(self, operation: str, hashed_key: str, body: dict[str, Any] | None = None) -> str:
        """A token for one ``operation`` charged to ``hashed_key``, valid for ``ttl_s``."""
        jti = secrets.token_urlsafe(18)
        now = time.time()
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM presign_tokens WHERE expires_at < ?", (now - 60,))
            conn.execute(
                "INSERT INTO presign_tokens (jti, operation, key_hash, body, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    jti,
                    operation,
                    hashed_key,
                    None if body is None else json.dumps(body),
                    now + self.ttl_s,
                ),
            )
        return f"{jti}.{self._sign(jti)}"

    def _sign(self, jti: str) -> str:
        return _b64(hmac.new(self._secret, b"presign:" + jti.encode(), hashlib.sha256).digest())

    def verify(self, token: str, operation: str) -> SignedGrant:
        """Check signature, operation and expiry (not single use; see ``claim``)."""
        if len(token) > _MAX_TOKEN_CHARS or not token.isascii():
            raise Unauthorized(_INVALID)
        jti, _, signature = token.partition(".")
        if not signature or not hmac.compare_digest(signature.encode(), self._sign(jti).encode()):
            raise Unauthorized(_INVALID)
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT operation, key_hash, body, expires_at FROM presign_tokens WHERE jti = ?",
                (jti,),
            ).fetchone()
        if row is None:  # signed by us but gone: expired and purged
            raise Unauthorized("signed_request has expired; request a new one")
        if row[0] != operation:
            raise Unauthorized("signed_request is not valid for this endpoint")
        if float(row[3]) < time.time():
            raise Unauthorized("signed_request has expired; request a new one")
        body = None if row[2] is None else json.loads(row[2])
        return SignedGrant(operation, row[1], jti, float(row[3]), body)

    def claim(self, grant: SignedGrant) -> None:
        """Mark the token spent, or raise Unauthorized when it already was."""
        with self._db.transaction() as conn:
            changed = conn.execute(
                "UPDATE presign_tokens SET spent = 1 WHERE jti = ? AND spent = 0", (grant.jti,)
            ).rowcount
        if changed == 0:
            raise Unauthorized("signed_request has already been used; request a new one")
