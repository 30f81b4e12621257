"""The HTTP transport under the httpx client: aiohttp's connection pool.

httpx stays the client API; its default pool (httpcore) checks every pooled connection for
expiry on every request (``has_expired`` → ``getpeername`` per connection), which profiles as
most of the event loop's time once dozens of requests are in flight. aiohttp's pool hands out
idle connections in constant time.

``PooledTransport`` adapts an ``aiohttp.ClientSession`` to httpx's transport interface. It
replaced ``httpx-aiohttp``'s adapter, which

- left aiohttp errors it had no entry for unmapped: a garbled answer (a confused proxy) escaped
  the client's exception tree as ``aiohttp.ClientResponseError`` and was not retried as a
  transport error; a refused or dropped connection read ``ConnectTimeout``;
- handed aiohttp the URL as a string, parsed again: escapes such as ``%7E`` in a signed URL's
  path were rewritten;
- let aiohttp refuse a URL with credentials (httpx had already sent them as a Basic header) and
  a control character in a header with a bare ``ValueError``.

Here every aiohttp error becomes the httpx error it stands for (``AIOHTTP_ERRORS``, most specific
first; a header aiohttp refuses is httpx's ``LocalProtocolError``), and the URL goes out as httpx
quoted it, its credentials in httpx's header only. Each call does less, too (headers decoded once
from their raw bytes, one timeout object per setting, a body read as aiohttp buffers it): about
130 fewer function calls a job at 64 in flight (``bench/calls_per_job.py``), too few for this
VM's CPU figures to resolve.

The pool size follows ``max_connections`` (the stream service sets it to its in-flight cap).
No client keeps cookies (``net.lean_client``); aiohttp's own jar is a dummy too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import aiohttp
import aiohttp.abc
import httpx
import yarl

KEEPALIVE_S = 15.0

# aiohttp error -> the httpx error it stands for; the first that matches wins
AIOHTTP_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.InvalidUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),  # includes waiting for the pool
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # a malformed answer
    (aiohttp.ClientConnectionError, httpx.NetworkError),  # reset or dropped mid-exchange
)


def _raise_mapped(exc: BaseException) -> NoReturn:
    """Raise ``exc`` as its httpx error (the aiohttp one as its cause); others as they are."""
    for source, target in AIOHTTP_ERRORS:
        if isinstance(exc, source):
            raise target(str(exc) or type(exc).__name__) from exc
    raise exc


class _Body(httpx.AsyncByteStream):
    """A response body, chunk by chunk as aiohttp buffers it; closing releases the connection."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._response.content.readany()
        except aiohttp.ClientError as exc:
            _raise_mapped(exc)
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """Back to the pool when read to the end; else the connection is closed."""
        self._response.release()
        try:
            await self._response.wait_for_close()
        except aiohttp.ClientError as exc:
            _raise_mapped(exc)


class PooledTransport(httpx.AsyncBaseTransport):
    """httpx's transport interface over an aiohttp session, opened on first use.

    ``session`` builds it lazily: an aiohttp session belongs to the event loop it was made on.
    """

    def __init__(self, session: Callable[[], aiohttp.ClientSession]) -> None:
        self._new_session = session
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        """The request's timeouts in aiohttp's terms: connect (pool wait included), each read.

        httpx's write timeout has no aiohttp counterpart (bodies sent here are small JSON).
        """
        spec = request.extensions.get("timeout") or {}
        key = (spec.get("connect"), spec.get("read"), spec.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read, pool = key
            waits = [t for t in (connect, pool) if t is not None]
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None,
                connect=sum(waits) if waits else None,
                sock_connect=connect,
                sock_read=read,
            )
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the pool; the answer's body streams from the connection."""
        if self._session is None:
            self._session = self._new_session()
        try:
            data: Any = request.content or None
        except httpx.RequestNotRead:  # a streamed body: aiohttp frames it itself
            data = request.stream
            request.headers.pop("transfer-encoding", None)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        # as httpx quoted it: parsed again, yarl would rewrite escapes such as %7E in a signed
        # URL's path
        url = yarl.URL(str(request.url), encoded=True)
        if url.user is not None:  # httpx sent it as an Authorization header; aiohttp refuses both
            url = url.with_user(None)
        try:
            response = await self._session.request(
                request.method,
                url,
                headers=headers,
                data=data,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes content-encoding itself
                compress=False,
                timeout=self._timeout(request),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except aiohttp.ClientError as exc:
            _raise_mapped(exc)
        except ValueError as exc:  # refused before sending: a control character in a header
            raise httpx.LocalProtocolError(str(exc)) from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        """Close the pool (if it was ever opened)."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def pooled_transport(
    max_connections: int,
    *,
    resolver: Callable[[], aiohttp.abc.AbstractResolver] | None = None,
) -> PooledTransport:
    """An aiohttp-pooled transport: ``max_connections`` at most, no proxy from the environment.

    ``resolver``: builds the resolver the pool connects through (the egress guard's pinned
    resolver); the session is created lazily, on the event loop that first uses it.
    """

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=max_connections,
            limit_per_host=0,
            keepalive_timeout=KEEPALIVE_S,
            resolver=resolver() if resolver is not None else None,
            ttl_dns_cache=10,
        )
        return aiohttp.ClientSession(
            connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
        )

    return PooledTransport(session)
