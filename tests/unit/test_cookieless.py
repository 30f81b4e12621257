"""``net.cookieless``: cookies set by a server are neither kept nor sent back."""

from __future__ import annotations

import httpx
import pytest

from bgcut_stream.net.cookieless import CookielessClient


async def test_a_set_cookie_is_not_sent_back() -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "AWSALB=sticky; Path=/"})

    async with CookielessClient(transport=httpx.MockTransport(answer)) as client:
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

    async with CookielessClient(
        cookies={"x": "y"}, transport=httpx.MockTransport(answer)
    ) as client:
        add(client)  # type: ignore[operator]
        await client.get("http://api.test/")
    assert seen == [None]
    assert dict(client.cookies) == {}
