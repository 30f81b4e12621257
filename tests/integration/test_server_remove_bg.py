"""Background removal endpoints of our server, black-box over HTTP: fields, defaults, geometry."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.support.images import encode, sample_photo
from tests.support.server import RunningServer

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer test-key"}


def upload(server: RunningServer, data: bytes, name: str = "photo.png") -> str:
    response = httpx.post(
        f"{server.url}/v3/remove-bg/upload-image/", headers=AUTH, files={"image": (name, data)}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["unique_filename"])


def process(server: RunningServer, body: dict[str, object]) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v3/remove-bg/process-image/", headers=AUTH, json=body, timeout=60
    )


def fetch_image(url: str) -> tuple[Image.Image, httpx.Response]:
    response = httpx.get(url)
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content)), response


def test_omitted_variants_give_one_default_png(server: RunningServer) -> None:
    """No output_variants: one variant named 'default', full-size transparent PNG."""
    unique = upload(server, sample_photo("chelsea"))
    response = process(server, {"unique_filename": unique})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"unique_filename", "input_url", "output_urls"}
    assert list(body["output_urls"]) == ["default"]
    image, raw = fetch_image(body["output_urls"]["default"])
    assert raw.headers["content-type"] == "image/png"
    assert image.mode == "RGBA"
    assert image.size == (451, 300)
    alpha = np.asarray(image)[:, :, 3]
    assert alpha.min() == 0, "background should be transparent somewhere"
    assert alpha.max() == 255, "subject should be opaque somewhere"
    original, _ = fetch_image(body["input_url"])
    assert original.size == (451, 300)


def test_max_resolution_scales_down_proportionally_never_up(server: RunningServer) -> None:
    """Outputs fit in max_resolution pixels with the aspect ratio kept; small inputs stay small."""
    unique = upload(server, sample_photo("chelsea"))  # 451x300
    response = process(
        server,
        {
            "unique_filename": unique,
            "output_variants": [
                {"variant_name": "small", "max_resolution": 10_000},
                {"variant_name": "huge", "max_resolution": 50_000_000},
            ],
        },
    )
    urls = response.json()["output_urls"]
    small, _ = fetch_image(urls["small"])
    huge, _ = fetch_image(urls["huge"])
    assert small.width * small.height <= 10_000
    assert abs(small.width / small.height - 451 / 300) < 0.03
    assert small.width * small.height > 9_000
    assert huge.size == (451, 300)


def test_background_color_fills_transparent_pixels_any_case(server: RunningServer) -> None:
    """'#1A01FF' and '#1a01ff' give an opaque image whose background is that colour."""
    unique = upload(server, sample_photo("astronaut"))
    response = process(
        server,
        {
            "unique_filename": unique,
            "output_variants": [
                {"variant_name": "upper", "format": "png", "background_color": "#1A01FF"},
                {
                    "variant_name": "lower",
                    "format": "webp",
                    "background_color": "#1a01ff",
                    "output_compression": 100,
                },
            ],
        },
    )
    assert response.status_code == 200
    for name in ("upper", "lower"):
        image, _ = fetch_image(response.json()["output_urls"][name])
        pixels = np.asarray(image.convert("RGBA"))
        assert pixels[:, :, 3].min() == 255
        corner = pixels[5, 505, :3].astype(int)  # top-right corner is background in this photo
        assert np.abs(corner - np.array([0x1A, 0x01, 0xFF])).max() <= 6


def test_autocrop_crops_to_subject_bounds(server: RunningServer) -> None:
    """Autocrop removes empty transparent borders: a centred square subject comes back tight."""
    canvas = np.full((300, 400, 3), 240, np.uint8)
    canvas[100:200, 150:250] = (200, 30, 30)  # a red square on a flat background
    unique = upload(server, encode(canvas))
    response = process(
        server,
        {
            "unique_filename": unique,
            "output_variants": [
                {"variant_name": "crop", "autocrop": True},
                {"variant_name": "full"},
            ],
        },
    )
    urls = response.json()["output_urls"]
    cropped, _ = fetch_image(urls["crop"])
    full, _ = fetch_image(urls["full"])
    alpha = np.asarray(full)[:, :, 3]
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    assert cropped.size == (cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1)
    assert cropped.width < 400
    assert cropped.height < 300
    cropped_alpha = np.asarray(cropped)[:, :, 3]
    assert cropped_alpha[0].any()
    assert cropped_alpha[-1].any()
    assert cropped_alpha[:, 0].any()
    assert cropped_alpha[:, -1].any()


def test_jpg_compression_changes_size(server: RunningServer) -> None:
    """output_compression is the jpg quality: 10 gives a smaller file than 95; png ignores it."""
    unique = upload(server, sample_photo("coffee"))
    response = process(
        server,
        {
            "unique_filename": unique,
            "output_variants": [
                {
                    "variant_name": "q10",
                    "format": "jpg",
                    "background_color": "#ffffff",
                    "output_compression": 10,
                },
                {
                    "variant_name": "q95",
                    "format": "jpg",
                    "background_color": "#FFFFFF",
                    "output_compression": 95,
                },
                {"variant_name": "p10", "format": "png", "output_compression": 10},
                {"variant_name": "p95", "format": "png", "output_compression": 95},
            ],
        },
    )
    urls = response.json()["output_urls"]
    sizes = {name: len(httpx.get(url).content) for name, url in urls.items()}
    assert sizes["q10"] < sizes["q95"]
    assert sizes["p10"] == sizes["p95"]
    image, raw = fetch_image(urls["q10"])
    assert raw.headers["content-type"] == "image/jpeg"
    assert image.mode == "RGB"


def test_quality_levels_are_distinct_masks(server: RunningServer) -> None:
    """high, medium and low run different inference paths, so their alpha channels differ."""
    unique = upload(server, sample_photo("astronaut"))
    response = process(
        server,
        {
            "unique_filename": unique,
            "output_variants": [
                {"variant_name": q, "quality": q} for q in ("high", "medium", "low")
            ],
        },
    )
    alphas = {
        name: np.asarray(fetch_image(url)[0])[:, :, 3].astype(int)
        for name, url in response.json()["output_urls"].items()
    }
    assert np.abs(alphas["high"] - alphas["low"]).mean() > 0.5
    assert np.abs(alphas["medium"] - alphas["low"]).mean() > 0.5


def test_exif_orientation_is_applied(server: RunningServer) -> None:
    """A JPEG stored landscape with EXIF orientation 6 (rotate 90) comes out portrait."""
    photo = np.asarray(Image.open(io.BytesIO(sample_photo("chelsea"))).convert("RGB"))
    exif = Image.Exif()
    exif[0x0112] = 6
    unique = upload(server, encode(photo, "JPEG", exif=exif.tobytes()), "rotated.jpg")
    response = process(server, {"unique_filename": unique})
    image, _ = fetch_image(response.json()["output_urls"]["default"])
    assert image.size == (300, 451)


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "CMYK", "I;16", "LA"])
def test_input_modes_are_processed(server: RunningServer, mode: str) -> None:
    """Palette, gray, gray+alpha, CMYK JPEG and 16-bit PNG inputs all process to RGBA PNGs."""
    base = Image.open(io.BytesIO(sample_photo("coffee"))).convert("RGB")
    buffer = io.BytesIO()
    if mode == "CMYK":
        base.convert("CMYK").save(buffer, format="JPEG")
    elif mode == "I;16":
        gray = np.asarray(base.convert("L"), dtype=np.uint16) * 257
        Image.fromarray(gray).save(buffer, format="PNG")  # uint16 array: mode I;16
    else:
        base.convert(mode).save(buffer, format="PNG")
    unique = upload(server, buffer.getvalue())
    response = process(server, {"unique_filename": unique})
    assert response.status_code == 200, response.text
    image, _ = fetch_image(response.json()["output_urls"]["default"])
    assert image.mode == "RGBA"
    assert image.size == base.size
    assert np.asarray(image)[:, :, :3].max() > 0


def test_process_many_times_runs_the_model_once(server: RunningServer) -> None:
    """Upload once, process three times with the same quality: one inference in total."""
    unique = upload(server, sample_photo("astronaut"))
    for name in ("a", "b", "c"):
        response = process(
            server, {"unique_filename": unique, "output_variants": [{"variant_name": name}]}
        )
        assert response.status_code == 200
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'bgcut_server_requests_total{endpoint="process",status="200"} 3.0' in metrics
    assert "bgcut_server_inferences_total 1.0" in metrics


def test_output_urls_expire(
    server: RunningServer, tmp_path_factory: pytest.TempPathFactory, saliency_model: object
) -> None:
    """With an output TTL of zero an output URL is already gone (404 with the JSON envelope)."""
    from tests.support.server import running_server  # noqa: PLC0415 - imported when used (start-up stays light)

    with running_server(
        tmp_path_factory.mktemp("ttl"),
        saliency_model,  # type: ignore[arg-type]
        output_ttl_s=0,
    ) as short:
        unique = upload(short, sample_photo("coffee"))
        url = process(short, {"unique_filename": unique}).json()["output_urls"]["default"]
        response = httpx.get(url)
    assert response.status_code == 404
    assert response.json() == {"detail": "File not found or expired."}


def test_openapi_document_lists_every_endpoint(server: RunningServer) -> None:
    """The OpenAPI document covers all ten API paths, trailing slashes included."""
    spec = httpx.get(f"{server.url}/openapi.json").json()
    expected = {
        "/v3/remove-bg/upload-image/",
        "/v3/remove-bg/upload-image/presign/",
        "/v3/remove-bg/upload-image/presigned/",
        "/v3/remove-bg/process-image/",
        "/v3/remove-bg/process-image/presign/",
        "/v3/remove-bg/process-image/presigned/",
        "/v3/ai-cut/initialize/",
        "/v3/ai-cut/initialize/presign/",
        "/v3/ai-cut/initialize/presigned/",
        "/v3/ai-cut/segment/",
    }
    assert expected <= set(spec["paths"])
    variant = spec["components"]["schemas"]["OutputVariant"]["properties"]
    assert variant["max_resolution"]["default"] == 12_000_000
    assert variant["output_compression"]["default"] == 85
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
