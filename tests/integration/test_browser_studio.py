"""/studio/ in headless Chromium (playwright-core): presigned upload, AI Cut rounds, export,
a reused token explained to the user; plus CORS on the browser-facing endpoints only."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from bgcut_stream.imaging.saliency import SaliencyModel
from tests.support.images import iou, two_objects_scene
from tests.support.server import running_server

pytestmark = pytest.mark.integration
BROWSER_DIR = Path(__file__).resolve().parents[1] / "browser"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".bgcut" / "test-artifacts"
IOU_FLOOR = 0.9  # as in test_server_ai_cut: the disc is found almost exactly from one dot


def _mask(url: str) -> np.ndarray:
    image = Image.open(io.BytesIO(httpx.get(url).content))
    return np.asarray(image)[:, :, 3] >= 128


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (BROWSER_DIR / "node_modules" / "playwright-core").exists():
        pytest.fail("node or playwright-core missing: run `make tools`")
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("/usr/bin/chromium missing: run `make tools` (Debian's chromium)")
    return node


def test_studio_end_to_end_in_chromium(tmp_path: Path, saliency_model: SaliencyModel) -> None:
    """Upload, two segment rounds that change the cutout as expected, undo, export, reuse."""
    node = _node()
    scene, disc, square = two_objects_scene()
    scene_path = tmp_path / "scene.png"
    scene_path.write_bytes(scene)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_server(
        tmp_path / "s", saliency_model, keys="studio-key:100", studio_key="studio-key"
    ) as server:
        run = subprocess.run(
            [
                node,
                str(BROWSER_DIR / "studio_e2e.mjs"),
                server.url,
                str(scene_path),
                str(ARTIFACTS),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        result = json.loads(run.stdout.strip().splitlines()[-1])
        rounds = {name: _mask(result[name]) for name in ("round1", "round2", "afterUndo", "red")}
        balance = server.balance("studio-key")
    both = disc | square
    assert iou(rounds["round1"], disc) >= IOU_FLOOR, "green on the disc selects the disc"
    assert iou(rounds["round2"], both) >= IOU_FLOOR, "green on the square adds the square"
    assert iou(rounds["afterUndo"], disc) >= IOU_FLOOR, "undo drops the square again"
    assert iou(rounds["red"], disc) >= IOU_FLOOR, "red on the square keeps it out"
    assert iou(rounds["round1"], both) < 0.7
    assert result["dots"] == [1, 1]
    assert [name for name, _ in result["exports"]] == ["full", "thumb", "white"]
    assert result["reused"]["first"] == ["default"]
    assert result["reused"]["second"]["error"] == 401
    assert result["statusText"] == (
        "This link has expired or was already used. Please try again with a new one."
    )
    assert result["statusIsError"] is True
    assert result["consoleErrors"] == []
    assert (ARTIFACTS / "studio.png").stat().st_size > 10_000
    # 1 for the AI Cut initialize, 1.5 for the export (one autocrop variant), 1 for the reuse test.
    assert balance == 100 - 1 - 1.5 - 1


def test_cors_only_on_browser_endpoints(tmp_path: Path, saliency_model: SaliencyModel) -> None:
    """Preflights for presigned and segment calls are answered; Bearer endpoints get none."""
    origin = "https://shop.example"
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    with running_server(tmp_path / "s", saliency_model, cors_origins=origin) as server:
        for path in (
            "/v3/ai-cut/segment/",
            "/v3/remove-bg/upload-image/presigned/",
            "/v3/remove-bg/process-image/presigned/",
        ):
            response = httpx.options(f"{server.url}{path}", headers=headers)
            assert response.status_code == 200, path
            assert response.headers["access-control-allow-origin"] == origin
        private = httpx.options(f"{server.url}/v3/remove-bg/process-image/", headers=headers)
        assert "access-control-allow-origin" not in private.headers
        stranger = httpx.options(
            f"{server.url}/v3/ai-cut/segment/",
            headers={**headers, "Origin": "https://evil.example"},
        )
        assert "access-control-allow-origin" not in stranger.headers


def test_studio_is_off_without_a_studio_key(tmp_path: Path, saliency_model: SaliencyModel) -> None:
    """Without BGCUT_SERVER_STUDIO_KEY neither the page nor the token route exists."""
    with running_server(tmp_path / "s", saliency_model) as server:
        assert httpx.get(f"{server.url}/studio/").status_code == 404
        assert httpx.post(f"{server.url}/studio/tokens?kind=upload").status_code == 404
