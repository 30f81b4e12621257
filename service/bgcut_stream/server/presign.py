"""Signed, short-lived, single-use ``signed_request`` tokens (HMAC-SHA256 over a JSON payload)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgcut_stream.server.db import Database
from bgcut_stream.server.exceptions import Unauthorized


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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
    """Mint and redeem tokens; redeeming records the token id so a second use fails."""

    def __init__(self, secret: bytes, db: Database, ttl_s: float) -> None:
        self._secret = secret
        self._db = db
        self.ttl_s = ttl_s

    def mint(self, operation: str, hashed_key: str, body: dict[str, Any] | None = None) -> str:
        """A token for one ``operation`` charged to ``hashed_key``, valid for ``ttl_s``."""
        payload = {
            "op": operation,
            "kh": hashed_key,
            "jti": uuid.uuid4().hex,
            "exp": time.time() + self.ttl_s,
            "body": body,
        }
        encoded = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{encoded}.{self._sign(encoded)}"

    def _sign(self, encoded: str) -> str:
        return _b64(hmac.new(self._secret, encoded.encode(), hashlib.sha256).digest())

    def verify(self, token: str, operation: str) -> SignedGrant:
        """Check signature, operation and expiry (not single use; see ``claim``)."""
        encoded, _, signature = token.partition(".")
        if not signature or not hmac.compare_digest(signature, self._sign(encoded)):
            raise Unauthorized("Invalid signed_request")
        try:
            payload = json.loads(_unb64(encoded))
        except ValueError as exc:
            raise Unauthorized("Invalid signed_request") from exc
        if payload.get("op") != operation:
            raise Unauthorized("signed_request is not valid for this endpoint")
        if float(payload["exp"]) < time.time():
            raise Unauthorized("signed_request has expired; request a new one")
        return SignedGrant(
            operation, payload["kh"], payload["jti"], float(payload["exp"]), payload.get("body")
        )

    def claim(self, grant: SignedGrant) -> None:
        """Mark the token spent, or raise Unauthorized when it already was."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM spent_tokens WHERE expires_at < ?", (time.time() - 60,))
            inserted = conn.execute(
                "INSERT OR IGNORE INTO spent_tokens (jti, expires_at) VALUES (?, ?)",
                (grant.jti, grant.expires_at),
            ).rowcount
        if inserted == 0:
            raise Unauthorized("signed_request has already been used; request a new one")

    def release(self, grant: SignedGrant) -> None:
        """Un-spend a token whose request failed, so the client may retry it before expiry."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM spent_tokens WHERE jti = ?", (grant.jti,))
