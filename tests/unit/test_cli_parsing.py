"""Pure parsing of the hand-held CLI: amounts, dots, variants, token expiry, start-up URLs."""

from __future__ import annotations

import base64
import json

import pytest
import typer

from bgcut_stream.cli.api import parse_dots, parse_variants, token_expiry
from bgcut_stream.cli.server import parse_amount, urls
from bgcut_stream.server.settings import ServerSettings


def test_amounts_in_steps_of_half_a_credit() -> None:
    """Steps of 0.5 pass (negative too); anything else is an error, never rounded."""
    assert parse_amount("2.5") == 2.5
    assert parse_amount("-5") == -5
    for bad in ("0.3", "1e400", "inf", "nan", "ten"):
        with pytest.raises(typer.Exit) as raised:
            parse_amount(bad)
        assert raised.value.exit_code == 2


def test_dots_and_variants() -> None:
    """x,y pairs of non-negative integers; variants validated like the API."""
    assert parse_dots(["1,2", " 3 , 4 "], "--green") == [(1, 2), (3, 4)]
    assert parse_variants('[{"variant_name": "a"}]') == [{"variant_name": "a"}]
    assert parse_variants(None) is None
    for call in (
        lambda: parse_dots(["1;2"], "--green"),
        lambda: parse_variants('[{"format": "jpg"}]'),
        lambda: parse_variants("[" * 5000),
    ):
        with pytest.raises(typer.Exit):
            call()


def test_token_expiry_reads_jwt_claims_only() -> None:
    """A JWT-like token (as the hosted API's) gives its exp; our opaque ids give None."""
    claims = base64.urlsafe_b64encode(json.dumps({"exp": 1_900_000_000}).encode()).decode()
    header = base64.urlsafe_b64encode(b'{"alg":"HS256"}').decode().rstrip("=")
    assert token_expiry(f"{header}.{claims.rstrip('=')}.sig") == 1_900_000_000
    assert token_expiry("3f2a9c.c2lnbmF0dXJl") is None


def test_startup_urls() -> None:
    """The banner names the API, the studio (or how to turn it on) and metrics."""
    on = urls(ServerSettings(host="0.0.0.0", port=9000, studio_key="s"))
    assert on[0].startswith("API      http://127.0.0.1:9000/v3/")
    assert on[1] == "studio   http://127.0.0.1:9000/studio/"
    assert on[2] == "metrics  http://127.0.0.1:9000/metrics"
    off = urls(ServerSettings(public_url="https://cut.example"))
    assert "BGCUT_SERVER_STUDIO_KEY" in off[1]
    assert off[2] == "metrics  https://cut.example/metrics"
