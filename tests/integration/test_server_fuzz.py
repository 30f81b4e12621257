"""Fuzzing the JSON endpoints with hypothesis: no body yields a 5xx or a non-envelope error."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bgcut_stream.imaging.saliency import SaliencyModel
from tests.support.images import encode
from tests.support.server import RunningServer, running_server

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer test-key"}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
variant = st.fixed_dictionaries(
    {},
    optional={
        "variant_name": st.text(max_size=70) | json_values,
        "max_resolution": st.integers(-5, 10**9) | json_values,
        "format": st.sampled_from(["png", "jpg", "webp", "gif", ""]) | json_values,
        "background_color": st.from_regex(r"#[0-9a-fA-F]{6}", fullmatch=True) | json_values,
        "quality": st.sampled_from(["high", "medium", "low", "x"]),
        "output_compression": st.integers(-10, 200) | json_values,
        "autocrop": st.booleans() | json_values,
    },
)


@pytest.fixture(scope="module")
def fuzz_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, str, str]]:
    """A server with one tiny upload and one AI Cut session to aim the fuzzer at."""
    model = SaliencyModel()
    with running_server(
        tmp_path_factory.mktemp("fuzz"), model, keys="test-key:100000", rate_limit_per_s=0
    ) as server:
        tiny = encode(__import__("numpy").full((24, 32, 3), 128, "uint8"))
        unique = httpx.post(
            f"{server.url}/v3/remove-bg/upload-image/",
            headers=AUTH,
            files={"image": ("t.png", tiny)},
        ).json()["unique_filename"]
        session = httpx.post(
            f"{server.url}/v3/ai-cut/initialize/", headers=AUTH, files={"image": ("t.png", tiny)}
        ).json()["unique_filename"]
        yield server, unique, session


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"detail"}
        assert isinstance(body["detail"], str)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=json_values
    | st.fixed_dictionaries(
        {},
        optional={
            "unique_filename": st.text(max_size=200) | json_values,
            "output_variants": st.lists(variant, max_size=4) | json_values,
        },
    )
)
def test_process_body_never_5xx(fuzz_server: tuple[RunningServer, str, str], body: object) -> None:
    """Arbitrary JSON at the process endpoint is answered with 200 or a 4xx envelope."""
    server, _, _ = fuzz_server
    _check(
        httpx.post(f"{server.url}/v3/remove-bg/process-image/", headers=AUTH, json=body, timeout=60)
    )


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(variants=st.lists(variant, min_size=1, max_size=3))
def test_valid_upload_with_fuzzed_variants_never_5xx(
    fuzz_server: tuple[RunningServer, str, str], variants: list[dict[str, object]]
) -> None:
    """A real upload with fuzzed variant fields is processed or refused with a 4xx."""
    server, unique, _ = fuzz_server
    body = {"unique_filename": unique, "output_variants": variants}
    _check(
        httpx.post(f"{server.url}/v3/remove-bg/process-image/", headers=AUTH, json=body, timeout=60)
    )


dots = st.lists(
    st.fixed_dictionaries({"x": st.integers(-5, 60), "y": st.integers(-5, 60)}), max_size=5
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    green=dots | json_values, red=dots | json_values, number=st.integers(-3, 2**40) | json_values
)
def test_segment_body_never_5xx(
    fuzz_server: tuple[RunningServer, str, str], green: object, red: object, number: object
) -> None:
    """Fuzzed dots and request numbers on a real session never produce a 5xx."""
    server, _, session = fuzz_server
    body = {
        "unique_filename": session,
        "greenDots": green,
        "redDots": red,
        "request_number": number,
    }
    _check(httpx.post(f"{server.url}/v3/ai-cut/segment/", json=body, timeout=60))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=64))
def test_raw_bytes_never_5xx(fuzz_server: tuple[RunningServer, str, str], raw: bytes) -> None:
    """Arbitrary bytes declared as JSON get a 4xx envelope."""
    server, _, _ = fuzz_server
    _check(
        httpx.post(
            f"{server.url}/v3/remove-bg/process-image/",
            content=raw,
            headers={**AUTH, "Content-Type": "application/json"},
        )
    )
