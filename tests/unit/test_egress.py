"""The egress guard's pure logic: address classes, one lookup per connection, pinning."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import httpcore
import httpx
import pytest

from bgcut_stream.net.egress import (
    EgressDenied,
    EgressPolicy,
    GuardedTransport,
    PinnedBackend,
    download_policy,
    is_public,
)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:169.254.169.254", False),
        ("::127.0.0.1", False),  # IPv4-compatible
        ("::8.8.8.8", False),
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b:1::1", False),
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", False),
    ],
)
def test_address_classes(address: str, public: bool) -> None:
    """Loopback, private, link-local, CGNAT and every IPv6 disguise of them are not public."""
    assert is_public(ipaddress.ip_address(address)) is public


class Rebinder:
    """A DNS stub: a public answer first, 127.0.0.1 to every later question."""

    def __init__(self, first: list[str]) -> None:
        self.first = first
        self.calls = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return self.first if self.calls == 1 else ["127.0.0.1"]


class Recorder(httpcore.AsyncNetworkBackend):
    """An inner backend that records where it was asked to connect and refuses."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.connects.append((host, port))
        raise httpcore.ConnectError("recorded")

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("unexpected")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def test_connection_goes_to_the_checked_address_without_a_second_lookup() -> None:
    """DNS rebinding: the stub answers public once and 127.0.0.1 after; the socket is opened to
    the first (checked) address and the name is never looked up again."""
    dns = Rebinder(["93.184.216.34"])
    inner = Recorder()
    policy = EgressPolicy(hosts=frozenset({"images.example"}), resolver=dns)
    transport = GuardedTransport(policy, inner=inner)

    async def fetch() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get("http://images.example:8080/a.png")

    asyncio.run(fetch())
    assert inner.connects == [("93.184.216.34", 8080)]
    assert dns.calls == 1


@pytest.mark.parametrize(
    "answers", [["127.0.0.1"], ["93.184.216.34", "10.0.0.7"], ["::ffff:169.254.169.254"]]
)
def test_any_private_answer_refuses_before_connecting(answers: list[str]) -> None:
    """One non-public answer among several is enough to refuse; no socket is opened."""
    inner = Recorder()
    backend = PinnedBackend(EgressPolicy(resolver=Rebinder(answers)), inner)
    with pytest.raises(EgressDenied, match="non-public address"):
        asyncio.run(backend.connect_tcp("images.example", 443))
    assert inner.connects == []


def test_host_allow_list_and_subdomain_entries() -> None:
    """Exact names and ``.suffix`` entries pass; anything else is refused by name."""
    policy = EgressPolicy(hosts=frozenset({"cdn.example", ".s3.amazonaws.com"}))
    policy.check_host("cdn.example")
    policy.check_host("bucket.s3.amazonaws.com")
    for host in ("evil.example", "169.254.169.254", "s3.amazonaws.com.evil.example"):
        with pytest.raises(EgressDenied, match="not in the allow-list"):
            policy.check_host(host)


def test_download_policy_trusts_only_the_api_origin() -> None:
    """The configured API origin may be private (self-hosted); CDN hosts may not."""
    policy = download_policy("http://api:8080", "cdn.example")
    dns = Rebinder(["10.0.0.5"])
    trusted = EgressPolicy(policy.hosts, policy.trusted, resolver=dns)
    assert asyncio.run(trusted.resolve("api", 8080)) == "10.0.0.5"
    with pytest.raises(EgressDenied):  # same host, another port: not the configured origin
        asyncio.run(EgressPolicy(policy.hosts, policy.trusted, resolver=dns).resolve("api", 9000))
    with pytest.raises(EgressDenied):
        asyncio.run(
            EgressPolicy(policy.hosts, policy.trusted, resolver=Rebinder(["10.0.0.6"])).resolve(
                "cdn.example", 443
            )
        )
    with pytest.raises(EgressDenied, match="not in the allow-list"):
        asyncio.run(trusted.resolve("169.254.169.254", 80))
