"""The studio's backend on our real server: session cookie, per-client limit, hostile variants,
and the process-image extension that cuts an AI Cut session with its refined mask."""

from __future__ import annotations

import io
import json
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from bgcut_stream.imaging.saliency import SaliencyModel
from tests.support.images import iou, two_objects_scene
from tests.support.server import RunningServer, running_server

STUDIO_KEY = "studio-key"


def _alpha(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))[:, :, 3] >= 128


def _studio_server(
    tmp_path: Path, model: SaliencyModel, **overrides: object
) -> AbstractContextManager[RunningServer]:
    """A server whose studio key has 10 credits."""
    fields: dict[str, object] = {"keys": f"{STUDIO_KEY}:10", "studio_key": STUDIO_KEY}
    return running_server(tmp_path / "s", model, **fields, **overrides)


def _studio_client(server: RunningServer, **kwargs: object) -> httpx.Client:
    client = httpx.Client(base_url=server.url, **kwargs)  # type: ignore[arg-type]
    assert client.get("/studio/").status_code == 200
    return client


def test_process_cuts_an_ai_cut_session_with_its_refined_mask(
    server: RunningServer, saliency_model: SaliencyModel
) -> None:
    """Keep the disc, remove the square: process-image of the session exports that cutout."""
    scene, disc, _ = two_objects_scene()
    auth = {"Authorization": "Bearer test-key"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=60) as client:
        session = client.post("/v3/ai-cut/initialize/", files={"image": ("s.png", scene)}).json()
        name = session["unique_filename"]
        unrefined = client.post("/v3/remove-bg/process-image/", json={"unique_filename": name})
        assert unrefined.status_code == 200, unrefined.text
        body = {
            "unique_filename": name,
            "greenDots": [{"x": 100, "y": 120}],
            "redDots": [{"x": 250, "y": 120}],
            "request_number": 1,
        }
        segmented = client.post("/v3/ai-cut/segment/", json=body).json()
        on_screen = _alpha(httpx.get(segmented["output_url"]).content)
        before = server.balance("test-key")
        refined = client.post("/v3/remove-bg/process-image/", json={"unique_filename": name})
        assert refined.status_code == 200, refined.text
        assert before - server.balance("test-key") == 1
        exported = _alpha(httpx.get(refined.json()["output_urls"]["default"]).content)
        first = _alpha(httpx.get(unrefined.json()["output_urls"]["default"]).content)
        server.add_credits("other-key", 5)
        other = httpx.post(
            f"{server.url}/v3/remove-bg/process-image/",
            json={"unique_filename": name},
            headers={"Authorization": "Bearer other-key"},
        )
    assert iou(exported, on_screen) >= 0.98
    assert iou(exported, disc) >= 0.9
    assert iou(exported, first) < 0.9, "the refinement changed the export"
    assert other.status_code == 404, "another account never sees the session"


def test_presign_mints_process_tokens_for_an_ai_cut_session(server: RunningServer) -> None:
    """process-image/presign/ accepts a session like process-image does; the token exports it."""
    scene, _, _ = two_objects_scene()
    auth = {"Authorization": "Bearer test-key"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=60) as client:
        name = client.post("/v3/ai-cut/initialize/", files={"image": ("s.png", scene)}).json()[
            "unique_filename"
        ]
        minted = client.post("/v3/remove-bg/process-image/presign/", json={"unique_filename": name})
        assert minted.status_code == 200, minted.text
    used = httpx.post(
        f"{server.url}/v3/remove-bg/process-image/presigned/",
        json={"signed_request": minted.json()["signed_request"]},
    )
    assert used.status_code == 200, used.text
    assert "default" in used.json()["output_urls"]


def test_tokens_need_the_session_cookie(tmp_path: Path, saliency_model: SaliencyModel) -> None:
    """No cookie, a forged or non-ASCII one: 401 with the envelope; the page's cookie works."""
    with _studio_server(tmp_path, saliency_model) as server:
        page = httpx.get(f"{server.url}/studio/")
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "Path=/studio" in cookie
        url = f"{server.url}/studio/tokens?kind=upload"
        assert httpx.post(url).status_code == 401
        forged = page.cookies["bgcut_studio"].rsplit(".", 1)[0] + ".AAAA"
        for bad in (forged, "é.é", "x"):
            cookie_header = f"bgcut_studio={bad}".encode()  # raw bytes: non-ASCII reaches us
            response = httpx.post(url, headers={"Cookie": cookie_header})
            assert response.status_code == 401, bad
            assert "reload /studio/" in response.json()["detail"]
        ok = httpx.post(url, cookies={"bgcut_studio": page.cookies["bgcut_studio"]})
        assert ok.status_code == 200
        assert ok.json()["signed_request"]


def test_token_rate_limit_is_per_client(tmp_path: Path, saliency_model: SaliencyModel) -> None:
    """One client spending its burst gets 429; another address is still served."""
    with _studio_server(
        tmp_path, saliency_model, rate_limit_per_s=0.01, rate_limit_burst=3
    ) as server:
        first = _studio_client(server)
        statuses = [first.post("/studio/tokens?kind=upload").status_code for _ in range(4)]
        other = _studio_client(server, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        answer = other.post("/studio/tokens?kind=upload")
    assert statuses == [200, 200, 200, 429]
    assert answer.status_code == 200


def test_hostile_variants_are_400(tmp_path: Path, saliency_model: SaliencyModel) -> None:
    """A 5000-digit integer, 3000-deep brackets, a non-list: 400 with a detail, never 5xx."""
    with _studio_server(tmp_path, saliency_model) as server:
        client = _studio_client(server)
        for variants in ("9" * 5000, "[" * 3000 + "]" * 3000, '{"a": 1}', "[1, 2"):
            response = client.post(
                "/studio/tokens",
                params={"kind": "process", "unique_filename": "x", "variants": variants},
            )
            assert response.status_code == 400, variants[:20]
            assert response.json()["detail"]
        for params in (
            {"kind": "bogus"},
            {"kind": "process", "unique_filename": "é" * 5000},
            {"kind": "process", "unique_filename": "x", "variants": "[" + "9" * 5000 + "]"},
            {"kind": "process", "unique_filename": "\x00", "variants": "NaN"},
        ):
            response = client.post("/studio/tokens", params=params)
            assert 400 <= response.status_code < 500, params
            assert response.json()["detail"]
        config = client.get("/studio/config").json()
    assert config["initialize_credits"] == 1
    assert config["process_credits"] == 1
    assert config["autocrop_credits"] == 0.5
    assert json.dumps(config)
