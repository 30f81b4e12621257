"""/studio/ in headless Chromium (playwright-core) against our real server on 127.0.0.1.

One browser run (tests/browser/studio_e2e.mjs) covers: refine-then-export (the exported PNG is
the on-screen cutout), double-click export charged once, a phone viewport with touch, a
keyboard-only run, axe-core, the in-page size/format checks, out of credits. The screenshots
land in docs/screenshots/ (linked from the README). Plus CORS on the browser endpoints only.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from bgcut_stream.imaging.saliency import SaliencyModel
from tests.support.images import iou, two_objects_scene
from tests.support.server import ADMIN_TOKEN, running_server

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BROWSER_DIR = ROOT / "tests" / "browser"
SCREENSHOTS = ROOT / "docs" / "screenshots"
STUDIO_KEY = "studio-key"
MAX_UPLOAD = 1_000_000
IOU_FLOOR = 0.9  # as in test_server_ai_cut: the disc is found almost exactly from one dot
SAME_AS_SCREEN = 0.98


def _alpha(url: str) -> np.ndarray:
    image = Image.open(io.BytesIO(httpx.get(url).content))
    return np.asarray(image.convert("RGBA"))[:, :, 3] >= 128


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (BROWSER_DIR / "node_modules" / "axe-core").exists():
        pytest.fail("node, playwright-core or axe-core missing: run `make tools`")
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("/usr/bin/chromium missing: run `make tools` (Debian's chromium)")
    return node


@pytest.fixture(scope="module")
def studio_run(
    tmp_path_factory: pytest.TempPathFactory, saliency_model: SaliencyModel
) -> dict[str, Any]:
    """Run the browser script once; masks are fetched while the server is still up."""
    node = _node()
    tmp = tmp_path_factory.mktemp("studio")
    scene, disc, square = two_objects_scene()
    scene_path = tmp / "scene.png"
    scene_path.write_bytes(scene)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with (
        running_server(
            tmp / "s",
            saliency_model,
            keys=f"{STUDIO_KEY}:100",
            studio_key=STUDIO_KEY,
            max_upload_bytes=MAX_UPLOAD,
        ) as server,
        running_server(
            tmp / "empty", saliency_model, keys=f"{STUDIO_KEY}:0", studio_key=STUDIO_KEY
        ) as empty,
    ):
        script = BROWSER_DIR / "studio_e2e.mjs"
        run = subprocess.run(
            [node, str(script), server.url, str(scene_path), str(SCREENSHOTS), empty.url],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "STUDIO_KEY": STUDIO_KEY, "ADMIN_TOKEN": ADMIN_TOKEN},
        )
        assert run.returncode == 0, run.stderr[-3000:]
        result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
        desktop, phone, keyboard = result["desktop"], result["phone"], result["keyboard"]
        result["masks"] = {
            "auto": _alpha(desktop["autoCutout"]),
            "refined_cutout": _alpha(desktop["refinedCutout"]),
            "refined_full": _alpha(desktop["refinedFull"]),
            "unrefined_full": _alpha(desktop["unrefinedFull"]),
            "phone": _alpha(phone["cutout"]),
            "keyboard": _alpha(keyboard["cutout"]),
        }
        result["final_balance"] = server.balance(STUDIO_KEY)
        result["empty_balance"] = empty.balance(STUDIO_KEY)
    result["truth"] = {"disc": disc, "square": square}
    return result


def test_export_matches_the_refined_cutout_on_screen(studio_run: dict[str, Any]) -> None:
    """Green on the disc, red on the square: full.png is the cutout shown, not the upload's."""
    desktop, masks, disc = studio_run["desktop"], studio_run["masks"], studio_run["truth"]["disc"]
    assert desktop["cutoutVisible"] is True, "an automatic cutout appears right after upload"
    assert desktop["dots"] == [1, 1]
    assert desktop["refinedShown"] == desktop["refinedCutout"]
    assert iou(masks["refined_full"], masks["refined_cutout"]) >= SAME_AS_SCREEN
    assert iou(masks["refined_cutout"], disc) >= IOU_FLOOR
    assert iou(masks["unrefined_full"], masks["auto"]) >= SAME_AS_SCREEN
    assert iou(masks["refined_full"], masks["unrefined_full"]) < SAME_AS_SCREEN - 0.1
    assert desktop["exports"] == ["full", "thumb", "jpg"]
    assert desktop["errors"] == []


def test_prices_shown_and_double_click_charges_once(studio_run: dict[str, Any]) -> None:
    """1 credit per image and 1.5 per export (autocrop thumbnail) are on the page and charged."""
    desktop = studio_run["desktop"]
    assert "1 credit" in desktop["uploadLabel"]
    assert "1.5 credits" in desktop["exportLabel"]
    assert "Dots are free" in desktop["prices"]
    assert desktop["balanceStart"] - desktop["balanceAfterUpload"] == 1
    assert desktop["balanceAfterUpload"] - desktop["balanceAfterExport"] == 1.5
    assert desktop["doubleClickProcessCalls"] == 1
    assert desktop["doubleClickTokenCalls"] == 1
    assert desktop["balanceAfterExport"] - desktop["balanceAfterDoubleClick"] == 1.5
    assert desktop["uploadsPerFile"] == 1, "one image chosen, one upload"


def test_checks_before_upload_and_reset_on_new_image(studio_run: dict[str, Any]) -> None:
    """Too large or not an image: said with the server's limit, nothing uploaded; state reset."""
    desktop = studio_run["desktop"]
    assert "huge.png" in desktop["tooLarge"]
    assert f"({MAX_UPLOAD} bytes)" in desktop["tooLarge"]
    assert "not a PNG, JPEG or WebP" in desktop["wrongFormat"]
    assert desktop["uploadsForRejected"] == 0
    assert desktop["resetAfterNewImage"] == {"exports": 0, "cutoutHidden": True, "dots": 0}


def test_background_and_before_after(studio_run: dict[str, Any]) -> None:
    """The background choice colours the preview; the toggle shows the original and back."""
    desktop = studio_run["desktop"]
    assert desktop["whitePreview"] == "rgb(255, 255, 255)"
    assert desktop["compareShowsOriginal"] is True
    assert desktop["compareBack"] is True


def test_phone_with_touch(studio_run: dict[str, Any]) -> None:
    """390x844 touch: keep and remove dots by tapping, stacked panes, 44 px targets, export."""
    phone, disc = studio_run["phone"], studio_run["truth"]["disc"]
    assert phone["removeMode"] is True
    assert phone["dots"] == [1, 1]
    assert iou(studio_run["masks"]["phone"], disc) >= IOU_FLOOR
    assert phone["exports"] == ["full", "thumb", "jpg"]
    layout = phone["layout"]
    assert layout["stacked"] is True
    assert layout["paneWidth"] >= 340
    assert layout["smallTargets"] == []
    assert layout["targets"] >= 8
    assert layout["scrollWidth"] <= 390, "no horizontal scrolling"
    assert phone["keepDotCssRadius"] >= 8, "a dot is finger-sized on screen"
    assert phone["errors"] == []


def test_keyboard_only(studio_run: dict[str, Any]) -> None:
    """Tab to the upload control, open it with Space, Tab to the canvas, arrows + Enter/Delete."""
    keyboard, disc = studio_run["keyboard"], studio_run["truth"]["disc"]
    assert keyboard["tabsToFile"] is not None
    assert keyboard["tabsToCanvas"] is not None
    assert keyboard["canvasRole"] == "application"
    assert keyboard["dots"] == [1, 1]
    assert iou(studio_run["masks"]["keyboard"], disc) >= IOU_FLOOR
    assert keyboard["errors"] == []


def test_axe_finds_no_serious_violations(studio_run: dict[str, Any]) -> None:
    """axe-core on the desktop and phone pages, image loaded and exported."""
    for view in ("desktop", "phone"):
        bad = [v for v in studio_run[view]["axe"] if v["impact"] in {"serious", "critical"}]
        assert bad == [], view


def test_out_of_credits_shows_the_servers_detail(studio_run: dict[str, Any]) -> None:
    """An empty studio balance: the page says so with the server's detail; nothing charged."""
    out = studio_run["outOfCredits"]
    assert "out of credits" in out["status"]
    assert "Insufficient credits. Required: 1.0, available: 0.0" in out["status"]
    assert studio_run["empty_balance"] == 0
    # desktop: upload 1 + two exports 1.5 each; phone: upload 1 + export 1.5; keyboard: upload 1;
    # the out-of-credits run spent nothing.
    assert studio_run["final_balance"] == 100 - 1 - 1.5 - 1.5 - 1 - 1.5 - 1


def test_screenshots_saved() -> None:
    """The run leaves desktop and phone screenshots for the README."""
    for name in ("studio-desktop.png", "studio-phone.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000, name


def test_tokens_need_the_studio_session(studio_run: dict[str, Any]) -> None:
    """A token request without the cookie set with the page is refused."""
    assert studio_run["tokenWithoutCookie"]["status"] == 401
    assert "reload /studio/" in studio_run["tokenWithoutCookie"]["detail"]


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
        assert httpx.get(f"{server.url}/studio/config").status_code == 404
        assert httpx.post(f"{server.url}/studio/tokens?kind=upload").status_code == 404
