"""The HTTP transport under the httpx client: aiohttp's connection pool.

httpx stays the client API; its default pool (httpcore) checks every pooled connection for
expiry on every request (``has_expired`` → ``getpeername`` per connection), which profiles as
most of the event loop's time once dozens of requests are in flight. aiohttp's pool hands out
idle connections in constant time. ``httpx-aiohttp`` adapts it to httpx's transport interface.

The pool size follows ``max_connections`` (the stream service sets it to its in-flight cap).

No client keeps cookies (``net.lean_client``); aiohttp's own jar is a dummy too.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

KEEPALIVE_S = 15.0


def pooled_transport(
    max_connections: int,
    *,
    resolver: Callable[[], aiohttp.abc.AbstractResolver] | None = None,
) -> AiohttpTransport:
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

    return AiohttpTransport(
        limits=httpx.Limits(max_connections=max_connections, keepalive_expiry=KEEPALIVE_S),
        trust_env=False,
        client=session,
    )
