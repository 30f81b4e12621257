"""How the server runs under uvicorn: limits set on purpose, a header deadline, no tokens logged.

uvicorn (0.54, h11) supports ``timeout_keep_alive``, ``limit_concurrency`` and
``h11_max_incomplete_event_size`` but has no deadline for reading a request's headers: a client
that sends half a request line keeps its connection for ever. ``GuardedH11Protocol`` adds that
deadline (``header_timeout_s``, from the connection's first byte or the end of the previous
response) and a cap on open connections answered with a 503 carrying Retry-After (uvicorn's own
``limit_concurrency`` answer has no Retry-After; it stays set one above as a backstop). Body
deadlines are enforced per request by ``guard.RequestGuard``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from bgcut_stream.redaction import redact as redact_secrets
from bgcut_stream.server.settings import ServerSettings

REDACTED = "[redacted]"
LINGER_S = 1.0


def redact(text: str) -> str:
    """``text`` with token-like query values (and any credentials) replaced."""
    return redact_secrets(text, REDACTED)


class RedactTokens(logging.Filter):
    """A filter for ``uvicorn.access`` (and any logger): token query values never reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's arguments (uvicorn logs the path with its query as an arg)."""
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_log_filters() -> None:
    """Attach ``RedactTokens`` to uvicorn's access and error loggers (idempotent)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


def _raw_json(status: int, reason: str, detail: str, extra: str = "") -> bytes:
    body = json.dumps({"detail": detail})
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n{extra}\r\n"
    )
    return (head + body).encode()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a header read deadline and an open-connection cap."""

    settings: ServerSettings  # set by ``protocol_for``

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Refuse past the connection cap; otherwise start the header deadline."""
        super().connection_made(transport)  # type: ignore[arg-type]
        if len(self.connections) > self.settings.max_connections:
            retry = f"retry-after: {self.settings.retry_after_s}\r\n"
            detail = "Too many open connections. Retry after a short delay."
            self.transport.write(_raw_json(503, "Service Unavailable", detail, retry))
            # Lingering close: FIN after the answer, swallow what the client still sends for a
            # moment, then close (an immediate close would reset and lose the answer).
            self._refused = True
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
            return
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(
                self.settings.header_timeout_s, self._header_timeout
            )

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.our_state is h11.IDLE:  # no response started on this cycle
            detail = "Request headers not received in time."
            self.transport.write(_raw_json(408, "Request Timeout", detail))
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        """Headers must be complete within the deadline once a request has begun."""
        if self._refused:
            return
        if self.conn.their_state is h11.IDLE:
            self._arm_header_timer()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._disarm_header_timer()
        super().connection_lost(exc)


def protocol_for(settings: ServerSettings) -> type[GuardedH11Protocol]:
    """A ``GuardedH11Protocol`` subclass bound to ``settings``."""
    return type("BoundGuardedH11Protocol", (GuardedH11Protocol,), {"settings": settings})


def uvicorn_config(
    app: Any, settings: ServerSettings, *, log_level: str = "info", **extra: Any
) -> uvicorn.Config:
    """The uvicorn config the server runs with (CLI and tests alike)."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        http=protocol_for(settings),
        timeout_keep_alive=max(1, round(settings.keep_alive_timeout_s)),
        limit_concurrency=settings.max_connections + 1,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_graceful_shutdown=10,
        server_header=False,
        **extra,
    )
    install_log_filters()  # after Config() configured uvicorn's loggers
    return config
