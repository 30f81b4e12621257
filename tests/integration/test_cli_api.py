"""The hand-held CLI against our server: upload, process with download, segment, presign."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.cli import run_cli
from tests.support.images import disc_scene, sample_photo
from tests.support.server import RunningServer

pytestmark = pytest.mark.integration


def cli(
    server: RunningServer, *args: str, key: str = "test-key"
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        *args, env={**os.environ, "BGCUT_API_BASE_URL": server.url, "BGCUT_API_API_KEY": key}
    )


def test_api_upload_process_download(server: RunningServer, tmp_path: Path) -> None:
    """`api upload` then `api process --download-to` leaves the variants on disk."""
    photo = tmp_path / "cat.png"
    photo.write_bytes(sample_photo("chelsea"))
    uploaded = cli(server, "api", "upload", str(photo))
    assert uploaded.returncode == 0, uploaded.stderr
    unique = json.loads(uploaded.stdout)["unique_filename"]
    variants = json.dumps(
        [
            {"variant_name": "cut"},
            {"variant_name": "jpg", "format": "jpg", "background_color": "#000000"},
        ]
    )
    processed = cli(
        server,
        "api",
        "process",
        unique,
        "--variants",
        variants,
        "--download-to",
        str(tmp_path / "out"),
    )
    assert processed.returncode == 0, processed.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cut.png", "jpg.jpg"]


def test_api_errors_are_one_line_and_exit_1(server: RunningServer) -> None:
    """A 404 prints the API's detail on stderr and exits 1."""
    result = cli(server, "api", "process", "missing")
    assert result.returncode == 1
    assert result.stderr.startswith("error: 404 unique_filename not found or expired.")


def test_api_segment(server: RunningServer, tmp_path: Path) -> None:
    """`api segment` initializes a session and returns the segment response."""
    scene = tmp_path / "scene.png"
    scene.write_bytes(disc_scene()[0])
    result = cli(server, "api", "segment", str(scene), "--green", "176,120", "--red", "5,5")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["status"] == "completed"
    assert body["request_number"] == 1


def test_presign_tokens_work_without_a_key(server: RunningServer) -> None:
    """`presign upload` mints a token a browser can use with no Authorization header."""
    result = cli(server, "presign", "upload")
    assert result.returncode == 0, result.stderr
    token = json.loads(result.stdout)["signed_request"]
    response = httpx.post(
        f"{server.url}/v3/remove-bg/upload-image/presigned/",
        params={"signed_request": token},
        files={"image": ("p.png", sample_photo("coffee"))},
    )
    assert response.status_code == 200
