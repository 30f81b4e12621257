"""AI Cut over HTTP: initialize, segment quality on a scene with a known mask, errors."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.support.images import disc_scene, iou
from tests.support.server import RunningServer

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer test-key"}
# GrabCut on a 384-px working copy, upscaled: edge pixels blur over about one working pixel.
# A disc of radius 72 px loses <= ~3% of its area at the edge, so 0.9 leaves room for noise
# while any wrong-region answer (the whole frame, the background) scores below 0.5.
IOU_FLOOR = 0.9


def _initialize(server: RunningServer, data: bytes) -> str:
    response = httpx.post(
        f"{server.url}/v3/ai-cut/initialize/", headers=AUTH, files={"image": ("scene.png", data)}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"unique_filename", "s3_path", "bucket"}
    return str(body["unique_filename"])


def _segment(server: RunningServer, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{server.url}/v3/ai-cut/segment/", json=body, timeout=60)


def _mask(url: str) -> np.ndarray:
    image = Image.open(io.BytesIO(httpx.get(url).content))
    return np.asarray(image)[:, :, 3] >= 128


def test_segment_rounds_converge_on_the_known_mask(server: RunningServer) -> None:
    """Green inside and red outside the disc give IoU above the floor; no auth, no charge."""
    scene, truth = disc_scene()
    unique = _initialize(server, scene)
    balance = server.balance("test-key")
    first = _segment(
        server,
        {
            "unique_filename": unique,
            "greenDots": [{"x": 176, "y": 120}],
            "redDots": [],
            "request_number": 1,
        },
    )
    assert first.status_code == 200
    body = first.json()
    assert body["status"] == "completed"
    assert body["request_number"] == 1
    assert body["message"] == "Segmentation successful"
    assert isinstance(body["timestamp"], float)
    second = _segment(
        server,
        {
            "unique_filename": unique,
            "greenDots": [{"x": 176, "y": 120}, {"x": 150, "y": 100}],
            "redDots": [{"x": 10, "y": 10}, {"x": 300, "y": 220}, {"x": 40, "y": 200}],
            "request_number": 2,
        },
    )
    assert second.json()["request_number"] == 2
    score = iou(_mask(second.json()["output_url"]), truth)
    assert score >= IOU_FLOOR, f"IoU {score:.3f}"
    assert server.balance("test-key") == balance


def test_red_dots_change_the_cutout(server: RunningServer) -> None:
    """Marking the disc itself red removes it from the selection."""
    scene, truth = disc_scene()
    unique = _initialize(server, scene)
    keep = _segment(server, {"unique_filename": unique, "greenDots": [{"x": 176, "y": 120}]})
    drop = _segment(
        server,
        {
            "unique_filename": unique,
            "redDots": [
                {"x": 176, "y": 120},
                {"x": 150, "y": 100},
                {"x": 200, "y": 140},
                {"x": 176, "y": 80},
                {"x": 176, "y": 160},
            ],
            "request_number": 2,
        },
    )
    kept, dropped = _mask(keep.json()["output_url"]), _mask(drop.json()["output_url"])
    assert iou(kept, truth) > iou(dropped, truth) + 0.3


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (
            {"unique_filename": "nope"},
            404,
            "unique_filename not found or expired. Re-upload the image.",
        ),
        ({"greenDots": []}, 400, "Missing required field: unique_filename"),
        (
            {"unique_filename": "x", "greenDots": [{"x": -1, "y": 0}]},
            400,
            "greenDots.0.x: Input should be greater than or equal to 0",
        ),
        (
            {"unique_filename": "x", "greenDots": [{"x": 1}]},
            400,
            "Missing required field: greenDots.0.y",
        ),
        (
            {"unique_filename": "x", "request_number": "one"},
            400,
            "request_number: Input should be a valid integer",
        ),
    ],
)
def test_segment_errors(
    server: RunningServer, body: dict[str, object], status: int, detail: str
) -> None:
    """Unknown sessions and malformed dots get their exact error."""
    response = _segment(server, body)
    assert response.status_code == status
    assert response.json() == {"detail": detail}


def test_dot_outside_the_image_is_400(server: RunningServer) -> None:
    """A dot beyond the image bounds names the dot and the image size."""
    scene, _ = disc_scene()
    unique = _initialize(server, scene)
    response = _segment(server, {"unique_filename": unique, "redDots": [{"x": 320, "y": 5}]})
    assert response.status_code == 400
    assert response.json() == {"detail": "redDots.0: (320, 5) is outside the 320x240 image"}


def test_remove_bg_upload_is_not_an_ai_cut_session(server: RunningServer) -> None:
    """A remove-bg unique_filename cannot be segmented (404)."""
    scene, _ = disc_scene()
    response = httpx.post(
        f"{server.url}/v3/remove-bg/upload-image/", headers=AUTH, files={"image": ("s.png", scene)}
    )
    unique = response.json()["unique_filename"]
    assert _segment(server, {"unique_filename": unique}).status_code == 404
