"""Hypothesis against every endpoint at once: params, headers and bodies, never a 5xx (issue 14).

``test_server_fuzz.py`` aims at the JSON bodies of process and segment; this file throws hostile
input at the whole surface: huge integers (also past Python's 4300-digit parse limit), deep
nesting, non-ASCII, NaN/Infinity, forged and non-ASCII tokens, odd content types, multipart
bodies with odd parts. Every answer must be < 500 and, when an error, the ``{"detail"}``
envelope. Studio routes are left to the studio's own tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bgcut_stream.api import paths
from bgcut_stream.imaging.saliency import SaliencyModel
from tests.support.images import encode
from tests.support.server import ADMIN_TOKEN, RunningServer, running_server

pytestmark = pytest.mark.integration
KEY = "test-key"

ENDPOINTS = [
    ("POST", paths.UPLOAD),
    ("POST", paths.UPLOAD_PRESIGN),
    ("POST", paths.UPLOAD_PRESIGNED),
    ("POST", paths.PROCESS),
    ("POST", paths.PROCESS_PRESIGN),
    ("POST", paths.PROCESS_PRESIGNED),
    ("POST", paths.AI_CUT_INITIALIZE),
    ("POST", paths.AI_CUT_INITIALIZE_PRESIGN),
    ("POST", paths.AI_CUT_INITIALIZE_PRESIGNED),
    ("POST", paths.AI_CUT_SEGMENT),
    ("GET", "/_admin/faults"),
    ("POST", "/_admin/credits"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/files/outputs/{a}/{b}"),
    ("GET", "/files/uploads/{a}/{b}"),
    ("POST", "/_admin/uploads/{a}/expire"),
]

huge_ints = st.sampled_from([10**250, -(10**40), 2**63, 2**64 + 1]) | st.integers()
nasty_text = st.sampled_from(
    [
        "",
        "\u00e9\u00e9",
        "\x00",
        "NaN",
        "Infinity",
        "-5",
        "1e308",
        "9" * 5000,
        "[" * 3000 + "]" * 3000,
        "../../etc/passwd",
        "abc.\u00e9",
        "a" * 10_000,
    ]
) | st.text(max_size=30)
json_scalars = (
    st.none()
    | st.booleans()
    | huge_ints
    | st.floats(allow_nan=False, allow_infinity=False)
    | nasty_text
)
json_values = st.recursive(
    json_scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(nasty_text, c, max_size=3),
    max_leaves=8,
)
FIELD_NAMES = [
    "unique_filename",
    "output_variants",
    "signed_request",
    "greenDots",
    "redDots",
    "request_number",
    "api_key",
    "credits",
    "image",
]
json_bodies = json_values | st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=4)
raw_json_texts = st.sampled_from(
    [
        b'{"api_key": "k", "credits": NaN}',
        b'{"api_key": "k", "credits": -Infinity}',
        b'{"request_number": ' + b"9" * 5000 + b', "unique_filename": "x"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        b"\xff\xfe\x00",
        b'{"signed_request": "\xc3\xa9.\xc3\xa9"}',
    ]
)
latin1 = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"))
header_values = latin1.filter(lambda v: v == v.strip()) | st.sampled_from(
    ["Bearer test-key", "Bearer \u00e9", "bearer  test-key", "Basic x", ADMIN_TOKEN]
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Authorization": header_values,
        "X-Admin-Token": header_values,
        "Content-Type": st.sampled_from(
            [
                "application/json",
                "multipart/form-data",
                "multipart/form-data; boundary=",
                "multipart/form-data; boundary=" + "b" * 300,
                "text/plain",
                "application/json; charset=\u00e9",
            ]
        ),
        "Host": st.sampled_from(["evil.example:8443", "127.0.0.1", "[::1]:80", "x" * 300]),
    },
)
params = st.dictionaries(st.sampled_from([*FIELD_NAMES, "x"]), nasty_text, max_size=3)
parts = st.lists(
    st.tuples(
        st.sampled_from(["image", "file", "image\u00e9", ""]),
        st.one_of(st.none(), nasty_text),
        st.binary(max_size=64) | st.just(encode(np.full((8, 8, 3), 9, "uint8"))),
    ),
    max_size=3,
)
segments = nasty_text.filter(lambda s: s not in {"", ".", ".."})


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the whole fuzz (rate limit off, plenty of credits)."""
    with running_server(
        tmp_path_factory.mktemp("fuzz-all"),
        SaliencyModel(),
        keys=f"{KEY}:1000000",
        rate_limit_per_s=0,
    ) as server:
        yield server


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"detail"}, body
        assert isinstance(body["detail"], str)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    query=params,
    head=headers,
    body=st.one_of(
        st.none(),
        json_bodies.map(lambda v: ("json", v)),
        raw_json_texts.map(lambda v: ("raw", v)),
        parts.map(lambda v: ("multipart", v)),
    ),
    a=segments,
    b=segments,
)
def test_no_input_anywhere_gives_a_5xx(
    target: RunningServer,
    endpoint: tuple[str, str],
    query: dict[str, str],
    head: dict[str, str],
    body: tuple[str, object] | None,
    a: str,
    b: str,
) -> None:
    """Any method/path/params/headers/body combination is answered < 500 with the envelope."""
    method, template = endpoint
    path = template.format(a=quote(a, safe=""), b=quote(b, safe=""))
    kwargs: dict[str, object] = {"params": query, "headers": dict(head)}
    if body is not None:
        kind, value = body
        if kind == "json":
            kwargs["json"] = value
        elif kind == "raw":
            kwargs["content"] = value
        else:
            kwargs["files"] = [
                (name, (filename, data))
                for name, filename, data in value  # type: ignore[attr-defined]
            ]
            kwargs["headers"] = {k: v for k, v in head.items() if k != "Content-Type"}
    try:
        response = httpx.request(method, f"{target.url}{path}", timeout=60, **kwargs)  # type: ignore[arg-type]
    except (httpx.LocalProtocolError, UnicodeEncodeError):
        return  # httpx itself refuses to send it
    _check(response)
