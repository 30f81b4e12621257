"""The egress guard: which hosts the service may fetch from, checked where the socket is opened.

Every outbound fetch driven by data (source images, output downloads) goes through an httpx
client whose connections are opened by ``PinnedBackend``: the host must be on the policy's list,
it is resolved once, every answer must be a public address (loopback, private, link-local,
CGNAT, multicast, reserved, NAT64 ``64:ff9b::/96``, IPv4-mapped ``::ffff:a.b.c.d`` and
IPv4-compatible ``::a.b.c.d`` are refused, mapped/6to4 forms judged by the IPv4 inside), and the
socket is opened to the address that was checked; there is no second lookup a rebinding DNS
server could answer differently. TLS still verifies the certificate against the host name.

Exceptions: ``EgressDenied`` (not retriable; a subclass of ``PermissionError``).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiohttp.abc
import httpcore
import httpx

from bgcut_stream.net.lean_client import LeanClient

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


class EgressDenied(PermissionError):
    """An outbound connection the policy forbids (host not allowed, or a non-public address)."""

    retriable = False


def split_hosts(spec: str) -> frozenset[str]:
    """Comma-separated host names (or IPs) as a lower-case set; IPv6 brackets dropped."""
    return frozenset(h.strip().lower().strip("[]") for h in spec.split(",") if h.strip())


def is_public(address: IPAddress) -> bool:
    """Whether an address is globally routable and not a disguised private one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if int(address) >> 32 == 0:  # ::a.b.c.d (IPv4-compatible), ::1 and :: included
            return False
        if any(address in net for net in _NAT64):
            return False
        if address in _SIX_TO_FOUR and address.sixtofour is not None:
            return is_public(address.sixtofour)
    return address.is_global and not address.is_multicast and not address.is_reserved


@functools.lru_cache(maxsize=1024)  # the same few hosts are asked about for every download
def _literal(name: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (one lookup)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class EgressPolicy:
    """Allowed hosts, and which (host, port) origins are trusted to be private.

    ``hosts`` empty means any host. ``trusted`` origins (the API the operator configured) may
    resolve to private addresses; everything else must be public unless ``allow_private``.
    """

    hosts: frozenset[str] = frozenset()
    trusted: frozenset[tuple[str, int]] = frozenset()
    allow_private: bool = False
    what: str = "outbound"
    hint: str = ""
    resolver: Resolver = field(default=system_resolver, compare=False)

    def admit(self, url: httpx.URL) -> None:
        """Refuse a scheme other than http(s) or a host off the list (before any connection)."""
        if url.scheme not in {"http", "https"}:
            raise EgressDenied(f"{self.what} scheme {url.scheme!r} is not allowed")
        self.check_host(url.host)

    def check_host(self, host: str) -> None:
        """Refuse a host that is not on the list (an entry ``.example.com`` allows subdomains)."""
        name = host.lower().strip("[]")
        if not self.hosts or name in self.hosts:
            return
        if any(h.startswith(".") and name.endswith(h) for h in self.hosts):
            return
        raise EgressDenied(f"{self.what} host {name!r} is not in the allow-list")

    def judge(self, host: str, port: int, answers: list[str]) -> str:
        """The address to connect to among ``answers``, or EgressDenied if any is not public."""
        name = host.lower().strip("[]")
        if not answers:
            raise httpcore.ConnectError(f"cannot resolve {name!r}: no addresses")
        if self.allow_private or (name, port) in self.trusted:
            return answers[0]
        for answer in answers:
            address = ipaddress.ip_address(answer.split("%", 1)[0])
            if not is_public(address):
                raise EgressDenied(
                    f"{self.what} host {name!r} resolves to non-public address {address}"
                    + self.hint
                )
        return answers[0]

    def resolve_blocking(self, host: str, port: int) -> str:
        """``resolve`` for synchronous callers (boto3's event hooks): one lookup, checked."""
        self.check_host(host)
        name = host.lower().strip("[]")
        if _literal(name) is not None:
            return self.judge(name, port, [name])
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {name!r}: {exc}") from exc
        return self.judge(name, port, list(dict.fromkeys(str(i[4][0]) for i in infos)))

    async def resolve(self, host: str, port: int) -> str:
        """The one address to connect to: allowed host, resolved once, every answer public."""
        self.check_host(host)
        name = host.lower().strip("[]")
        if _literal(name) is not None:
            return self.judge(name, port, [name])
        try:
            answers = await self.resolver(name, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {name!r}: {exc}") from exc
        return self.judge(name, port, answers)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections to the address ``policy.resolve`` checked, never by name."""

    def __init__(
        self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve and check once, then connect to that address."""
        address = await self.policy.resolve(host, port)
        return await self._inner.connect_tcp(
            address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Unix sockets are never an egress target."""
        raise EgressDenied("unix sockets are not allowed for outbound fetches")

    async def sleep(self, seconds: float) -> None:
        """Delegate."""
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool opened through ``PinnedBackend``."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        limits: httpx.Limits | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(limits=limits or httpx.Limits(), trust_env=False)
        self.policy = policy
        # httpx takes no network backend; its pool opens every connection through this one.
        self._pool._network_backend = PinnedBackend(policy, inner)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Refuse other schemes and off-list hosts before the pool is asked."""
        self.policy.admit(request.url)
        return await super().handle_async_request(request)


class PinnedResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver for a guarded pool: ``policy.resolve`` and nothing else.

    One lookup, every answer checked; the pool connects to the checked address.
    """

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        """The one checked address of ``host``.

        A failed lookup is raised as the ``OSError`` aiohttp expects of a resolver (it becomes
        ``httpx.ConnectError``); ``EgressDenied`` is one already.
        """
        try:
            address = await self.policy.resolve(host, port)
        except httpcore.ConnectError as exc:
            raise OSError(socket.EAI_NONAME, str(exc)) from exc  # strerror: aiohttp shows it
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        """Nothing to release."""


class GuardedPoolTransport(httpx.AsyncBaseTransport):
    """The aiohttp-pooled transport (``client.transport``) behind the same egress checks.

    Host names are resolved by ``PinnedResolver``; aiohttp skips resolvers for IP literals,
    so those are judged here before the pool sees the request.
    """

    def __init__(self, policy: EgressPolicy, *, max_connections: int) -> None:
        from bgcut_stream.client.transport import pooled_transport  # noqa: PLC0415 - no cycle

        self.policy = policy
        self._inner = pooled_transport(max_connections, resolver=lambda: PinnedResolver(policy))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Refuse other schemes, off-list hosts and non-public literals; then the pool."""
        self.policy.admit(request.url)
        origin = origin_of(str(request.url))
        if origin is not None and _literal(origin[0]) is not None:
            await self.policy.resolve(*origin)
        try:
            return await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            cause: BaseException | None = exc
            while cause is not None:  # aiohttp wraps resolver errors: surface the refusal
                if isinstance(cause, EgressDenied):
                    raise cause from None
                cause = cause.__cause__ or cause.__context__
            raise

    async def aclose(self) -> None:
        """Close the pool."""
        await self._inner.aclose()


def guarded_client(
    policy: EgressPolicy,
    *,
    timeout: httpx.Timeout | float | None = 30.0,
    limits: httpx.Limits | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An httpx client that never follows redirects and connects only as ``policy`` allows.

    ``transport`` replaces the guarded one (tests with an in-memory transport); the redirect and
    host checks of ``follow`` still apply.
    """
    return LeanClient(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment: it would connect for us, unchecked
        transport=transport or GuardedTransport(policy, limits=limits),
    )


def origin_of(url: str) -> tuple[str, int] | None:
    """(host, port) of a URL, the port defaulted by scheme; None without a host."""
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname.lower(), parts.port or default


def download_policy(
    api_base_url: str, download_hosts: str, *, allow_private: bool = False
) -> EgressPolicy:
    """Output downloads: the API's own host plus the configured CDN hosts.

    The API origin itself is trusted as configured (a self-hosted API on a private address);
    CDN hosts must resolve to public addresses unless ``allow_private``.
    """
    api = origin_of(api_base_url)
    hosts = split_hosts(download_hosts) | ({api[0]} if api else set())
    return EgressPolicy(
        hosts=frozenset(hosts),
        trusted=frozenset({api}) if api else frozenset(),
        allow_private=allow_private,
        what="download",
    )


def download_client(
    settings: Any,
    *,
    timeout: httpx.Timeout | float | None = 30.0,
    limits: httpx.Limits | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The output-download client of ``BackgroundCutClient`` for ``ClientSettings``.

    Pooled by aiohttp (see ``client.transport``) behind the egress checks.
    """
    policy = download_policy(
        settings.base_url,
        settings.download_hosts,
        allow_private=settings.allow_private_downloads,
    )
    size = (limits.max_connections if limits else None) or 100
    return guarded_client(
        policy,
        timeout=timeout,
        limits=limits,
        transport=transport or GuardedPoolTransport(policy, max_connections=size),
    )


def policy_of(client: httpx.AsyncClient) -> EgressPolicy | None:
    """The policy of a guarded client (None for any other client)."""
    transport = client._transport  # httpx keeps the default transport here
    return (
        transport.policy if isinstance(transport, GuardedTransport | GuardedPoolTransport) else None
    )


MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})


async def follow(
    client: httpx.AsyncClient,
    url: str,
    send: Callable[[httpx.URL], Awaitable[httpx.Response]],
    *,
    max_redirects: int = MAX_REDIRECTS,
) -> httpx.Response:
    """``send(url)`` and follow at most ``max_redirects`` redirects, each target re-checked.

    ``send`` returns a streamed response; redirect responses are closed before the next hop.
    A target off the client's policy list is refused before any connection is made.
    """
    policy = policy_of(client)
    target = httpx.URL(url)  # parsed once: httpx parses in Python
    for _ in range(max_redirects + 1):
        if policy is not None:
            policy.admit(target)
        response = await send(target)
        if response.status_code not in REDIRECTS or "location" not in response.headers:
            return response
        await response.aclose()
        target = target.join(response.headers["location"])
    raise EgressDenied(f"more than {max_redirects} redirects")
