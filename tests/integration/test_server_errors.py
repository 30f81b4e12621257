"""Every error code of our server with its exact cause, as ``{"detail": ...}`` over HTTP."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bgcut_stream.imaging.saliency import SaliencyModel
from tests.support.images import sample_photo
from tests.support.server import RunningServer, running_server

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer test-key"}
UPLOAD = "/v3/remove-bg/upload-image/"
PROCESS = "/v3/remove-bg/process-image/"


def _upload(
    server: RunningServer, data: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        f"{server.url}{UPLOAD}",
        headers=headers if headers is not None else AUTH,
        files={"image": ("x", data)},
    )


def _process(
    server: RunningServer, body: object, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        f"{server.url}{PROCESS}",
        headers=headers if headers is not None else AUTH,
        json=body,
        timeout=60,
    )


def _uploaded(server: RunningServer) -> str:
    return str(_upload(server, sample_photo("coffee")).json()["unique_filename"])


def _chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR declares width x height (a decompression-bomb header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def _gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "Missing required field: unique_filename"),
        (
            {"unique_filename": "u", "output_variants": [{"format": "gif"}]},
            "output_variants.0.format: Input should be 'png', 'jpg' or 'webp'",
        ),
        (
            {"unique_filename": "u", "output_variants": [{"background_color": "#12345g"}]},
            "output_variants.0.background_color: String should match pattern '^#[0-9a-fA-F]{6}$'",
        ),
        (
            {"unique_filename": "u", "output_variants": [{"background_color": "fff"}]},
            "output_variants.0.background_color: String should match pattern '^#[0-9a-fA-F]{6}$'",
        ),
        (
            {"unique_filename": "u", "output_variants": [{"output_compression": 0}]},
            "output_variants.0.output_compression: Input should be greater than or equal to 1",
        ),
        (
            {"unique_filename": "u", "output_variants": [{"output_compression": 101}]},
            "output_variants.0.output_compression: Input should be less than or equal to 100",
        ),
        (
            {"unique_filename": "u", "output_variants": [{"max_resolution": 0}]},
            "output_variants.0.max_resolution: Input should be greater than 0",
        ),
        (
            {"unique_filename": "u", "output_variants": [{"quality": "ultra"}]},
            "output_variants.0.quality: Input should be 'high', 'medium' or 'low'",
        ),
        (
            {"unique_filename": "u", "output_variants": [{"format": "jpg"}]},
            (
                "output_variants.0: variant 'default': transparent background is not possible "
                "with jpg format; set background_color or use png/webp"
            ),
        ),
        (
            {"unique_filename": "u", "output_variants": [{}, {}]},
            "variant_name must be unique within a request: ['default']",
        ),
        (
            {"unique_filename": "u", "output_variants": []},
            "output_variants: List should have at least 1 item after validation, not 0",
        ),
        (
            {"unique_filename": "u", "output_variants": [{"max_resoluton": 5}]},
            "output_variants.0.max_resoluton: unknown field",
        ),
        (
            {"unique_filename": "u", "output_variants": [{"autocrop": "yes"}]},
            "output_variants.0.autocrop: Input should be a valid boolean",
        ),
    ],
)
def test_bad_process_bodies_are_400(server: RunningServer, body: object, detail: str) -> None:
    """Each invalid field of a process body is a 400 naming the field and the rule."""
    response = _process(server, body)
    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    assert server.balance("test-key") == 1000


def test_malformed_json_and_wrong_content_type_are_400(server: RunningServer) -> None:
    """A broken JSON body and a form-encoded body are both 400 with their own detail."""
    broken = httpx.post(
        f"{server.url}{PROCESS}",
        content=b'{"unique_filename": ',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json() == {"detail": "Malformed JSON body."}
    form = httpx.post(f"{server.url}{PROCESS}", data={"unique_filename": "x"}, headers=AUTH)
    assert form.status_code == 400
    assert form.json() == {"detail": "Content-Type must be application/json."}


@pytest.mark.parametrize(
    ("data", "status", "detail"),
    [
        (b"", 400, "Empty image file."),
        (b"plain text, not an image", 400, "Corrupt or unreadable image"),
        (sample_photo()[:2000], 400, "Corrupt or unreadable image"),
        (_gif(), 400, "Unsupported image format: GIF. Supported: PNG, JPG, JPEG, WebP"),
        (
            _png_header(12_000, 9_000),
            413,
            "Image of 12000x9000 pixels exceeds the 100000000-pixel limit",
        ),
        (_png_header(40_000, 40_000), 413, "Image exceeds the 100000000-pixel limit"),
    ],
)
def test_bad_images_are_rejected(
    server: RunningServer, data: bytes, status: int, detail: str
) -> None:
    """Empty, corrupt, truncated, unsupported and bomb-sized images each get their exact error."""
    response = _upload(server, data)
    assert response.status_code == status
    assert response.json() == {"detail": detail}


def test_missing_image_field_is_400(server: RunningServer) -> None:
    """A multipart body without the image field is a 400 naming the field."""
    response = httpx.post(f"{server.url}{UPLOAD}", headers=AUTH, files={"file": ("x", b"1")})
    assert response.status_code == 400
    assert response.json() == {"detail": "Missing required field: image"}


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Missing Authorization header. Use 'Authorization: Bearer <key>'."),
        (
            {"Authorization": "test-key"},
            "Malformed Authorization header. Use 'Authorization: Bearer <key>'.",
        ),
        (
            {"Authorization": "Basic dGVzdA=="},
            "Malformed Authorization header. Use 'Authorization: Bearer <key>'.",
        ),
        ({"Authorization": "Bearer unknown"}, "Invalid API key."),
    ],
)
def test_auth_errors_are_401(server: RunningServer, headers: dict[str, str], detail: str) -> None:
    """Missing, malformed and unknown keys are 401 on upload and process alike."""
    for response in (_upload(server, sample_photo(), headers), _process(server, {}, headers)):
        assert response.status_code == 401
        assert response.json() == {"detail": detail}


def test_unknown_and_expired_uploads_are_404(server: RunningServer) -> None:
    """An unknown unique_filename and one expired by the operator are both 404."""
    response = _process(server, {"unique_filename": "does-not-exist"})
    assert response.status_code == 404
    assert response.json() == {
        "detail": "unique_filename not found or expired. Re-upload the image."
    }
    unique = _uploaded(server)
    server.expire(unique)
    assert _process(server, {"unique_filename": unique}).status_code == 404
    assert server.balance("test-key") == 1000


def test_another_keys_upload_is_404(server: RunningServer) -> None:
    """Uploads are private to the key that made them."""
    unique = _uploaded(server)
    server.add_credits("other-key", 5)
    response = _process(server, {"unique_filename": unique}, {"Authorization": "Bearer other-key"})
    assert response.status_code == 404


def test_oversized_upload_is_413(tmp_path: Path, saliency_model: SaliencyModel) -> None:
    """A body over the byte limit is 413 before it is decoded."""
    with running_server(tmp_path / "s", saliency_model, max_upload_bytes=50_000) as server:
        response = _upload(server, sample_photo())
    assert response.status_code == 413
    assert response.json() == {"detail": "Image exceeds the upload limit of 50000 bytes."}


def test_rate_limit_is_429_with_retry_after(tmp_path: Path, saliency_model: SaliencyModel) -> None:
    """Past the burst, a key gets 429 with a whole-second Retry-After header."""
    with running_server(
        tmp_path / "s", saliency_model, rate_limit_per_s=0.5, rate_limit_burst=2
    ) as server:
        statuses = [
            httpx.post(f"{server.url}/v3/remove-bg/upload-image/presign/", headers=AUTH)
            for _ in range(3)
        ]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2].headers["retry-after"] == "2"
    assert statuses[2].json() == {"detail": "Rate limit exceeded. Retry after 2 s"}


def test_processing_timeout_is_504_and_refunded(
    tmp_path: Path, saliency_model: SaliencyModel
) -> None:
    """A process call over the time limit is 504 with the reference's advice, and costs nothing."""
    with running_server(tmp_path / "s", saliency_model, process_timeout_s=0.001) as server:
        unique = _uploaded(server)
        response = _process(server, {"unique_filename": unique})
        balance = server.balance("test-key")
    assert response.status_code == 504
    assert response.json()["detail"].startswith("Processing took too long")
    assert 'using "quality": "medium"' in response.json()["detail"]
    assert balance == 1000


@pytest.mark.parametrize("status", [500, 503])
def test_injected_server_errors(server: RunningServer, status: int) -> None:
    """Injected 500/503 keep the JSON envelope and charge nothing."""
    unique = _uploaded(server)
    server.set_faults(script={"process": [status]})
    response = _process(server, {"unique_filename": unique})
    assert response.status_code == status
    assert set(response.json()) == {"detail"}
    assert server.balance("test-key") == 1000
    assert _process(server, {"unique_filename": unique}).status_code == 200


def test_unknown_route_and_method_keep_the_envelope(server: RunningServer) -> None:
    """404 for an unknown path and 405 for GET on a POST endpoint are JSON too."""
    missing = httpx.get(f"{server.url}/v3/nope/")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong = httpx.get(f"{server.url}{PROCESS}")
    assert wrong.status_code == 405
    assert wrong.json() == {"detail": "Method Not Allowed"}
