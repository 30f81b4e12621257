"""An httpx client that keeps no cookies.

The API authenticates by header and its output URLs are signed, so cookies carry nothing this
service needs. httpx extracts them from every response all the same: it builds a ``urllib``
request/response pair per call and runs ``http.cookiejar`` over the headers, which profiled
at about a tenth of a job's CPU. A load balancer's affinity cookie is ignored with the rest.
"""

from __future__ import annotations

from http.cookiejar import Cookie, CookieJar
from typing import Any

import httpx


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


class CookielessClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` that neither stores nor sends cookies (see the module docstring)."""

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty."""
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        """Ignored: this client keeps no cookies."""
