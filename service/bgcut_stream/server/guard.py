"""Request-level defences that act before any route reads a body.

``RequestGuard`` is plain ASGI (no body buffering) and sits outside every other middleware:

- at most ``max_requests`` requests in flight; past it a 503 ``{"detail"}`` with Retry-After
  (liveness and metrics probes excepted);
- on the endpoints that return file links, a ``Host`` not in ``allowed_hosts`` is a 400 when
  ``PUBLIC_URL`` is unset, before anything is charged or a token spent;
- the request body must arrive in time: at most ``body_idle_timeout_s`` between two chunks and
  ``body_timeout_s`` in all, else 408 and the connection is closed (slow-body clients do not
  hold a slot for ever; slow headers are cut by ``runtime.GuardedH11Protocol``).
"""

from __future__ import annotations

import asyncio
import json

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bgcut_stream.api import paths
from bgcut_stream.server.exceptions import ApiError
from bgcut_stream.server.settings import ServerSettings
from bgcut_stream.server.state import check_host

LINK_PATHS = frozenset({paths.PROCESS, paths.PROCESS_PRESIGNED, paths.AI_CUT_SEGMENT})
PROBE_PATHS = frozenset({"/healthz", "/metrics"})  # cheap; an overloaded server is still alive


class BodyTimeout(StarletteHTTPException):
    """408: the body did not arrive in time.

    An HTTPException, so FastAPI's JSON body parsing lets it through instead of making it a 400.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(408, detail, headers={"Connection": "close"})


async def send_json(
    send: Send, status: int, detail: str, headers: dict[str, str] | None = None
) -> None:
    """Answer with the ``{"detail": ...}`` envelope straight from ASGI."""
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class _Body:
    """Whether the request body has been read to its end."""

    done = False


def _closing(send: Send, body: _Body) -> Send:
    """Add ``Connection: close`` to a response sent before the body was read to its end.

    The rest of that body is then never read: uvicorn closes the connection instead of reading
    and discarding (say) 400 MiB to keep it alive.
    """

    async def closing_send(message: Message) -> None:
        if message["type"] == "http.response.start" and not body.done:
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return closing_send


class RequestGuard:
    """In-flight cap, trusted Host on link-building endpoints, body read deadlines."""

    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse or pass on one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.settings.max_requests and scope["path"] not in PROBE_PATHS:
            retry = str(self.settings.retry_after_s)
            detail = "Server is temporarily overloaded. Retry after a short delay."
            await send_json(send, 503, detail, {"Retry-After": retry})
            return
        if scope["path"] in LINK_PATHS and not self.settings.public_url:
            host = next((v for k, v in scope["headers"] if k == b"host"), b"")
            try:
                check_host(host.decode("latin-1"), self.settings.host_allow_list)
            except ApiError as exc:
                await send_json(send, exc.status_code, exc.detail)
                return
        body = _Body()
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"0")
        body.done = b"transfer-encoding" not in headers and (
            not length.isdigit() or int(length) == 0
        )
        self.in_flight += 1
        try:
            await self.app(scope, self._timed(receive, body), _closing(send, body))
        finally:
            self.in_flight -= 1

    def _timed(self, receive: Receive, body: _Body) -> Receive:
        idle = self.settings.body_idle_timeout_s
        total = self.settings.body_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + total

        async def timed_receive() -> Message:
            if body.done:  # body complete: later calls only wait for a disconnect
                return await receive()
            wait = min(idle, deadline - loop.time())
            try:
                if wait <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError:
                raise BodyTimeout(
                    f"Request body not received in time (idle over {idle:g} s or over "
                    f"{total:g} s in all)."
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body.done = True
            return message

        return timed_receive
