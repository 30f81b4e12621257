"""The service's ``httpx.AsyncClient``: no cookies, and closed responses freed at once.

Cookies: the API authenticates by header and its output URLs are signed, so cookies carry
nothing this service needs. httpx extracts them from every response all the same: it builds a
``urllib`` request/response pair per call and runs ``http.cookiejar`` over the headers, which
profiled at about a tenth of a job's CPU. A load balancer's affinity cookie is ignored with the
rest.

Closed responses: httpx 0.28 wraps each response's stream in a ``BoundAsyncStream`` that points
back at the response (to set ``elapsed`` on close; encode/httpx#3733). That reference cycle
keeps the response, its request, headers and the transport's response (~30 objects a call)
alive until the cyclic garbage collector runs; at 300 jobs a second (two calls each) its young
collections paused the event loop for 30-100 ms about every second. Once a response is closed,
its stream is swapped for an empty one, which breaks the cycle, so reference counting frees the
lot at once: in ``send`` for a response read there, on ``aclose`` for a streamed one (however it
is closed: ``stream()``'s block, an error, a redirect hop).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from http.cookiejar import Cookie, CookieJar
from typing import Any

import httpx

_CLOSED = httpx.ByteStream(b"")  # what a released response's stream is: nothing left to read


def _release(response: httpx.Response) -> None:
    """Break a closed response's cycle with its stream."""
    response.stream = _CLOSED


class _ReleasedOnClose(httpx.AsyncByteStream):
    """A streamed response's stream that releases the response once closed."""

    def __init__(self, stream: httpx.AsyncByteStream, response: httpx.Response) -> None:
        self._stream = stream
        self._response = weakref.ref(response)  # a strong one would be a cycle of its own

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()  # the body's own iterator: no generator in between

    async def aclose(self) -> None:
        """Close the stream (httpx sets ``elapsed`` here), then release the response."""
        await self._stream.aclose()
        response = self._response()
        if response is not None:
            _release(response)


class _DiscardingJar(CookieJar):
    """A jar that stores nothing."""

    def set_cookie(self, cookie: Cookie) -> None:
        """Drop ``cookie``."""


class _NoCookies(httpx.Cookies):
    """A cookie store that stays empty: nothing is extracted from responses or kept if set."""

    def __init__(self) -> None:
        super().__init__(_DiscardingJar())

    def extract_cookies(self, response: httpx.Response) -> None:
        """Ignore the response's cookies."""


_NO_COOKIES = _NoCookies()


class LeanClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` without cookies whose closed responses are released (module doc)."""

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty."""
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        """Ignored: this client keeps no cookies."""

    async def send(
        self, request: httpx.Request, *, stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """``AsyncClient.send``; the response is released once it is closed."""
        response = await super().send(request, stream=stream, **kwargs)
        if response.is_closed:
            _release(response)
        elif isinstance(response.stream, httpx.AsyncByteStream):  # what an AsyncClient gives
            response.stream = _ReleasedOnClose(response.stream, response)
        return response
