"""Presigned tokens (single use, expiry, no auth) and the credit ledger (arithmetic, races)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bgcut_stream.imaging.saliency import SaliencyModel
from tests.support.images import sample_photo
from tests.support.server import RunningServer, running_server

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer test-key"}


def _post(server: RunningServer, path: str, **kwargs: object) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", timeout=60, **kwargs)  # type: ignore[arg-type]


def _upload(server: RunningServer, key: str = "test-key") -> str:
    response = _post(
        server,
        "/v3/remove-bg/upload-image/",
        headers={"Authorization": f"Bearer {key}"},
        files={"image": ("p.png", sample_photo("coffee"))},
    )
    return str(response.json()["unique_filename"])


def _token(server: RunningServer, path: str, body: object = None) -> str:
    response = _post(server, path, headers=AUTH, json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["signed_request"])


def test_presigned_upload_is_single_use(server: RunningServer) -> None:
    """A presigned upload works without auth once; the second use is 401."""
    token = _token(server, "/v3/remove-bg/upload-image/presign/")
    files = {"image": ("p.png", sample_photo("coffee"))}
    first = _post(
        server,
        "/v3/remove-bg/upload-image/presigned/",
        params={"signed_request": token},
        files=files,
    )
    assert first.status_code == 200
    second = _post(
        server,
        "/v3/remove-bg/upload-image/presigned/",
        params={"signed_request": token},
        files=files,
    )
    assert second.status_code == 401
    assert second.json() == {"detail": "signed_request has already been used; request a new one"}


def test_failed_presigned_upload_spends_the_token(server: RunningServer) -> None:
    """A token is burned by its first use even when that use fails (issue 14): no retries."""
    token = _token(server, "/v3/remove-bg/upload-image/presign/")
    bad = _post(
        server,
        "/v3/remove-bg/upload-image/presigned/",
        params={"signed_request": token},
        files={"image": ("p.png", b"junk")},
    )
    assert bad.status_code == 400
    good = _post(
        server,
        "/v3/remove-bg/upload-image/presigned/",
        params={"signed_request": token},
        files={"image": ("p.png", sample_photo())},
    )
    assert good.status_code == 401
    assert good.json() == {"detail": "signed_request has already been used; request a new one"}


def test_presigned_process_bakes_variants_and_charges_the_minter(server: RunningServer) -> None:
    """The variant config is inside the token; the minting key pays 1 + 0.5 per autocrop."""
    unique = _upload(server)
    body = {
        "unique_filename": unique,
        "output_variants": [
            {"variant_name": "a", "autocrop": True},
            {"variant_name": "b", "autocrop": True},
            {"variant_name": "c", "format": "webp"},
        ],
    }
    token = _token(server, "/v3/remove-bg/process-image/presign/", body)
    response = _post(
        server, "/v3/remove-bg/process-image/presigned/", json={"signed_request": token}
    )
    assert response.status_code == 200
    assert sorted(response.json()["output_urls"]) == ["a", "b", "c"]
    assert server.balance("test-key") == 1000 - 2.0


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("garbage", "Invalid signed_request"),
        ("eyJvcCI6InByb2Nlc3MifQ.c2lnbmF0dXJl", "Invalid signed_request"),
    ],
)
def test_forged_tokens_are_401(server: RunningServer, token: str, detail: str) -> None:
    """Tokens that are not ours are rejected."""
    response = _post(
        server, "/v3/remove-bg/process-image/presigned/", json={"signed_request": token}
    )
    assert response.status_code == 401
    assert response.json() == {"detail": detail}


def test_token_for_another_endpoint_is_401(server: RunningServer) -> None:
    """An upload token cannot be redeemed as a process token."""
    token = _token(server, "/v3/remove-bg/upload-image/presign/")
    response = _post(
        server, "/v3/remove-bg/process-image/presigned/", json={"signed_request": token}
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "signed_request is not valid for this endpoint"}


def test_missing_signed_request_is_400(server: RunningServer) -> None:
    """A presigned upload without the query parameter names the missing field."""
    response = _post(
        server, "/v3/remove-bg/upload-image/presigned/", files={"image": ("p.png", sample_photo())}
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Missing required field: signed_request"}


def test_expired_token_is_401(tmp_path: Path, saliency_model: SaliencyModel) -> None:
    """With a zero TTL a token is expired by the time it is used."""
    with running_server(tmp_path / "s", saliency_model, presign_ttl_s=0) as server:
        token = _token(server, "/v3/remove-bg/upload-image/presign/")
        response = _post(
            server,
            "/v3/remove-bg/upload-image/presigned/",
            params={"signed_request": token},
            files={"image": ("p.png", sample_photo())},
        )
    assert response.status_code == 401
    assert response.json() == {"detail": "signed_request has expired; request a new one"}


def test_credit_arithmetic(server: RunningServer) -> None:
    """1 credit per request whatever the variants, plus 0.5 per autocrop variant."""
    unique = _upload(server)
    cases = [
        ([{"variant_name": "a"}], 1.0),
        ([{"variant_name": n} for n in "abcde"], 1.0),
        ([{"variant_name": "a", "autocrop": True}], 1.5),
        (
            [
                {"variant_name": "a", "autocrop": True},
                {"variant_name": "b", "autocrop": True},
                {"variant_name": "c"},
            ],
            2.0,
        ),
    ]
    for variants, cost in cases:
        before = server.balance("test-key")
        response = _post(
            server,
            "/v3/remove-bg/process-image/",
            headers=AUTH,
            json={"unique_filename": unique, "output_variants": variants},
        )
        assert response.status_code == 200
        assert before - server.balance("test-key") == cost


def test_payment_required_leaves_balance_unchanged(
    tmp_path: Path, saliency_model: SaliencyModel
) -> None:
    """402 carries the reference's exact message and takes nothing."""
    with running_server(tmp_path / "s", saliency_model, keys="poor:1.5") as server:
        unique = _upload(server, "poor")
        body = {
            "unique_filename": unique,
            "output_variants": [
                {"variant_name": "a", "autocrop": True},
                {"variant_name": "b", "autocrop": True},
            ],
        }
        response = _post(
            server,
            "/v3/remove-bg/process-image/",
            headers={"Authorization": "Bearer poor"},
            json=body,
        )
        assert response.status_code == 402
        assert response.json() == {"detail": "Insufficient credits. Required: 2.0, available: 1.5"}
        assert server.balance("poor") == 1.5


def test_parallel_requests_never_overspend(tmp_path: Path, saliency_model: SaliencyModel) -> None:
    """20 parallel process calls on a key with 10 credits: exactly 10 succeed, balance 0."""
    with running_server(tmp_path / "s", saliency_model, keys="ten:10", workers=2) as server:
        unique = _upload(server, "ten")

        def call(i: int) -> int:
            return _post(
                server,
                "/v3/remove-bg/process-image/",
                headers={"Authorization": "Bearer ten"},
                json={"unique_filename": unique, "output_variants": [{"variant_name": f"v{i}"}]},
            ).status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(call, range(20)))
        assert sorted(statuses) == [200] * 10 + [402] * 10
        assert server.balance("ten") == 0


def test_ledger_and_uploads_survive_restart(tmp_path: Path, saliency_model: SaliencyModel) -> None:
    """After a restart on the same data dir, balances persist, seeds are not re-applied, and
    uploads remain processable."""
    data_dir = tmp_path / "s"
    with running_server(data_dir, saliency_model, keys="k:5") as server:
        unique = _upload(server, "k")
        _post(
            server,
            "/v3/remove-bg/process-image/",
            headers={"Authorization": "Bearer k"},
            json={"unique_filename": unique},
        )
        assert server.balance("k") == 4
    with running_server(data_dir, saliency_model, keys="k:5") as restarted:
        assert restarted.balance("k") == 4
        response = _post(
            restarted,
            "/v3/remove-bg/process-image/",
            headers={"Authorization": "Bearer k"},
            json={"unique_filename": unique},
        )
        assert response.status_code == 200
        assert restarted.balance("k") == 3
