"""``net.lean_client``: no cookies kept or sent; closed responses freed by reference counting."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator

import httpx
import pytest

from bgcut_stream.net.lean_client import LeanClient


async def test_a_set_cookie_is_not_sent_back() -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "AWSALB=sticky; Path=/"})

    async with LeanClient(transport=httpx.MockTransport(answer)) as client:
        first = await client.get("http://api.test/a")
        await client.get("http://api.test/b")
    assert first.headers["set-cookie"].startswith("AWSALB=")  # the response still shows it
    assert seen == [None, None]
    assert len(client.cookies) == 0


@pytest.mark.parametrize(
    "add",
    [
        lambda c: c.cookies.set("a", "b"),
        lambda c: c.cookies.update({"a": "b"}),
        lambda c: c.cookies.__setitem__("a", "b"),
        lambda c: setattr(c, "cookies", {"a": "b"}),
    ],
)
async def test_cookies_given_to_the_client_are_dropped(add: object) -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200)

    async with LeanClient(cookies={"x": "y"}, transport=httpx.MockTransport(answer)) as client:
        add(client)  # type: ignore[operator]
        await client.get("http://api.test/")
    assert seen == [None]
    assert dict(client.cookies) == {}


class _Chunks(httpx.AsyncByteStream):
    """A body that arrives in chunks (httpx reads a bytes body at once, closing the response)."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * 25


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, stream=_Chunks())


async def test_a_read_response_is_freed_when_dropped(no_cyclic_gc: None) -> None:
    async with LeanClient(transport=httpx.MockTransport(_answer)) as client:
        response = await client.get("http://api.test/")
        assert response.content == b"x" * 100
        gone = weakref.ref(response)
        request = weakref.ref(response.request)
        del response
        assert gone() is None
        assert request() is None


async def test_httpx_alone_keeps_a_dropped_response_for_the_cyclic_gc(no_cyclic_gc: None) -> None:
    """Why ``LeanClient`` releases responses: if httpx drops the cycle, this fails."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(_answer)) as client:
        response = await client.get("http://api.test/")
        gone = weakref.ref(response)
        del response
        assert gone() is not None
        gc.collect()
        assert gone() is None


async def test_a_streamed_response_is_readable_until_closed_then_freed(no_cyclic_gc: None) -> None:
    async with LeanClient(transport=httpx.MockTransport(_answer)) as client:
        request = client.build_request("GET", "http://api.test/")
        response = await client.send(request, stream=True)
        assert not response.is_closed
        assert b"".join([chunk async for chunk in response.aiter_bytes()]) == b"x" * 100
        await response.aclose()
        assert response.elapsed.total_seconds() >= 0  # set on close, as httpx does
        gone = weakref.ref(response)
        del response
        assert gone() is None


async def test_a_response_streamed_in_a_block_is_freed_after_it(no_cyclic_gc: None) -> None:
    async with LeanClient(transport=httpx.MockTransport(_answer)) as client:
        async with client.stream("GET", "http://api.test/") as response:
            assert await response.aread() == b"x" * 100
        gone = weakref.ref(response)
        del response
        assert gone() is None


async def test_a_streamed_response_closed_unread_is_freed(no_cyclic_gc: None) -> None:
    async with LeanClient(transport=httpx.MockTransport(_answer)) as client:
        response = await client.send(client.build_request("GET", "http://api.test/"), stream=True)
        await response.aclose()  # a redirect hop, or an error before the body is read
        with pytest.raises(httpx.StreamClosed):
            await response.aread()
        gone = weakref.ref(response)
        del response
        assert gone() is None
