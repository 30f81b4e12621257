"""``client.transport``: httpx over aiohttp's pool, against servers that misbehave on 127.0.0.1.

Each server here is a real asyncio TCP server speaking (or failing to speak) HTTP/1.1, so every
error comes from aiohttp's own parser and connector, as it would from a broken proxy or API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from bgcut_stream.client import BackgroundCutClient, ClientSettings, TransportError
from bgcut_stream.client.transport import pooled_transport

pytestmark = pytest.mark.integration

Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Raw"], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@dataclass
class Raw:
    """What the server saw: connections opened and each request's head and body."""

    url: str = ""
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


async def read_request(reader: asyncio.StreamReader, raw: Raw) -> bytes:
    """One request's head and its (Content-Length) body; recorded in ``raw``."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    request = head + (await reader.readexactly(length) if length else b"")
    raw.requests.append(request)
    return request


@asynccontextmanager
async def raw_server(reply: Reply) -> AsyncIterator[Raw]:
    """A TCP server on a free port answering every connection with ``reply``."""
    raw = Raw()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw.connections += 1
        try:
            await reply(reader, writer, raw)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    raw.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield raw
    finally:
        server.close()


def client(timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=pooled_transport(4), timeout=timeout)


def answer_once(payload: bytes) -> Reply:
    async def reply(r: asyncio.StreamReader, w: asyncio.StreamWriter, raw: Raw) -> None:
        await read_request(r, raw)
        w.write(payload)
        await w.drain()

    return reply


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"garbage\r\n\r\n", httpx.RemoteProtocolError),  # not HTTP: a confused proxy
        (b"", httpx.RemoteProtocolError),  # closed without an answer
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}", httpx.ReadError),  # cut short
    ],
    ids=["garbage", "no-answer", "truncated"],
)
async def test_a_broken_answer_is_an_httpx_transport_error(
    payload: bytes, error: type[httpx.TransportError]
) -> None:
    async with raw_server(answer_once(payload)) as raw, client() as http:
        with pytest.raises(error) as caught:
            await http.post(f"{raw.url}/v3/process", json={})  # the body is read here too
    assert caught.value.__cause__ is not None  # aiohttp's error, kept for the logs


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with raw_server(answer_once(OK)) as raw:
        url = raw.url
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url)


async def test_a_silent_server_is_a_read_timeout() -> None:
    async def stall(r: asyncio.StreamReader, w: asyncio.StreamWriter, raw: Raw) -> None:
        await read_request(r, raw)
        await asyncio.sleep(5)

    async with raw_server(stall) as raw, client(timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(raw.url)


async def test_the_client_retries_a_garbled_answer_as_a_transport_error() -> None:
    """Before: aiohttp's ``ClientResponseError`` escaped the client's exception tree unretried."""
    async with raw_server(answer_once(b"garbage\r\n\r\n")) as raw:
        settings = ClientSettings(
            base_url=raw.url, api_key="k", max_attempts=3, backoff_initial_s=0.01
        )
        async with BackgroundCutClient(settings) as api:
            with pytest.raises(TransportError, match="RemoteProtocolError"):
                await api.process_image("x.png")
    assert len(raw.requests) == 3


async def test_headers_and_body_arrive_as_sent() -> None:
    async with raw_server(answer_once(OK)) as raw, client() as http:
        response = await http.post(
            f"{raw.url}/v3/out/a%7Eb.png?a=b%20c&sig=x%2By",
            json={"unique_filename": "ü.png"},
            headers={"Authorization": "Bearer s3cret", "X-Request-ID": "r-1"},
        )
    assert response.status_code == 200
    assert response.json() == {}
    head, _, body = raw.requests[0].partition(b"\r\n\r\n")
    request_line, *lines = head.split(b"\r\n")
    assert request_line == b"POST /v3/out/a%7Eb.png?a=b%20c&sig=x%2By HTTP/1.1"  # as signed
    fields = {name.lower(): value.strip() for name, _, value in (f.partition(b":") for f in lines)}
    assert fields[b"authorization"] == b"Bearer s3cret"
    assert fields[b"x-request-id"] == b"r-1"
    assert fields[b"content-length"] == str(len(body)).encode()
    assert body == httpx.Request("POST", "http://x", json={"unique_filename": "ü.png"}).content


async def test_a_chunked_body_streams_in_pieces_and_the_connection_is_reused() -> None:
    async def chunked(r: asyncio.StreamReader, w: asyncio.StreamWriter, raw: Raw) -> None:
        for _ in range(3):
            await read_request(r, raw)
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for part in (b"a" * 1000, b"b" * 1000):
                w.write(b"%x\r\n%s\r\n" % (len(part), part))
                await w.drain()
                await asyncio.sleep(0.05)  # separate reads on the client
            w.write(b"0\r\n\r\n")
            await w.drain()

    async with raw_server(chunked) as raw, client() as http:
        for _ in range(3):
            async with http.stream("GET", raw.url) as response:
                chunks = [chunk async for chunk in response.aiter_raw()]
            assert b"".join(chunks) == b"a" * 1000 + b"b" * 1000
            assert len(chunks) >= 2
    assert raw.connections == 1  # read to the end: back to the pool each time


async def test_a_body_left_unread_does_not_poison_the_pool() -> None:
    async def big_then_small(r: asyncio.StreamReader, w: asyncio.StreamWriter, raw: Raw) -> None:
        await read_request(r, raw)
        body = b"x" * 1_000_000
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await w.drain()
        await read_request(r, raw)  # a reused connection would carry the next request here
        w.write(OK)
        await w.drain()

    async with raw_server(big_then_small) as raw, client() as http:
        async with http.stream("GET", raw.url) as response:
            assert (await response.aiter_raw().__anext__()).startswith(b"x")
        second = await http.get(raw.url)  # on a fresh connection: the first one was closed
        assert second.status_code == 200
    assert raw.connections == 2


async def test_credentials_in_the_url_go_as_basic_auth() -> None:
    async with raw_server(answer_once(OK)) as raw, client() as http:
        response = await http.get(raw.url.replace("http://", "http://user:p%40ss@") + "/o.png")
    assert response.status_code == 200
    head = raw.requests[0].split(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"get /o.png http/1.1")
    assert b"authorization: basic dxnlcjpwqhnz" in head  # base64("user:p@ss"), lower-cased


async def test_a_control_character_in_a_header_is_refused_before_sending() -> None:
    async with raw_server(answer_once(OK)) as raw, client() as http:
        with pytest.raises(httpx.LocalProtocolError):
            await http.get(raw.url, headers={"X-Note": "a\r\nX-Injected: 1"})
    assert raw.requests == []
