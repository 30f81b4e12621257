"""The API client against our real server over HTTP on 127.0.0.1 (no mocked transport)."""

from __future__ import annotations

import gc
import hashlib
import io
import time
from collections import Counter
from pathlib import Path

import pytest
import structlog
from PIL import Image
from structlog.testing import capture_logs

from bgcut_stream.api.models import OutputVariant
from bgcut_stream.client import (
    AttemptInfo,
    BackgroundCutClient,
    BadRequest,
    ClientSettings,
    DownloadError,
    GatewayTimeout,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PaymentRequired,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
)
from bgcut_stream.imaging.saliency import SaliencyModel
from bgcut_stream.localstack import server_process
from tests.support.images import disc_scene, sample_photo
from tests.support.server import RunningServer, running_server

pytestmark = pytest.mark.integration

SECRET_KEY = "test-key"


def _client(
    server: RunningServer, key: str = SECRET_KEY, **overrides: object
) -> BackgroundCutClient:
    fields: dict[str, object] = {
        "base_url": server.url,
        "api_key": key,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        **overrides,
    }
    attempts: list[AttemptInfo] = []
    client = BackgroundCutClient(ClientSettings(**fields), on_attempt=attempts.append)
    client.attempts = attempts  # type: ignore[attr-defined]
    return client


def _attempts(client: BackgroundCutClient) -> list[AttemptInfo]:
    return client.attempts  # type: ignore[attr-defined,no-any-return]


async def test_upload_process_download_round_trip(server: RunningServer, tmp_path: Path) -> None:
    """Upload once, process three variants, and download each with its size and checksum."""
    async with _client(server) as client:
        unique = await client.upload_image(sample_photo("astronaut"))
        out = await client.process_image(
            unique,
            [
                OutputVariant(variant_name="full"),
                OutputVariant(
                    variant_name="thumb", format="webp", max_resolution=40_000, autocrop=True
                ),
                {"variant_name": "white", "format": "jpg", "background_color": "#ffffff"},
            ],
        )
        assert out.unique_filename == unique
        assert set(out.output_urls) == {"full", "thumb", "white"}
        types = {"full": "image/png", "thumb": "image/webp", "white": "image/jpeg"}
        for name, url in out.output_urls.items():
            result = await client.download(url, tmp_path / name, expected_content_type=types[name])
            data = result.path.read_bytes()
            assert result.size == len(data)
            assert result.sha256 == hashlib.sha256(data).hexdigest()
        with Image.open(tmp_path / "thumb") as thumb:
            assert thumb.width * thumb.height <= 40_000
        with Image.open(tmp_path / "full") as full:
            assert full.mode == "RGBA"
            assert full.size == (512, 512)
    assert server.balance(SECRET_KEY) == 1000 - 1.5


async def test_a_jobs_calls_leave_no_cyclic_garbage(tmp_path: Path) -> None:
    """Upload + process + download over the real transports: all freed by reference counting.

    The server runs in its own process, so that only the client's objects are counted, and keeps
    idle connections open (a connection the server drops leaves aiohttp garbage, not ours).
    Cyclic garbage per call (httpx's response/stream cycle, a tenacity loop) made the service's
    young GC collections pause its event loop for tens of milliseconds every second under load.
    """
    with server_process(
        tmp_path / "server",
        keys=f"{SECRET_KEY}:100",
        env={"BGCUT_SERVER_KEEP_ALIVE_TIMEOUT_S": "600"},
    ) as server:
        settings = ClientSettings(base_url=server.url, api_key=SECRET_KEY)
        async with BackgroundCutClient(settings) as client:

            async def job(n: int) -> None:
                unique = await client.upload_image(sample_photo("astronaut"))
                out = await client.process_image(unique)
                for name, url in out.output_urls.items():
                    await client.download(url, tmp_path / f"{n}-{name}.png")

            await job(0)  # connections, lazy imports and caches: made once
            gc.collect()
            gc.disable()
            try:
                for n in range(1, 4):
                    await job(n)
                gc.set_debug(gc.DEBUG_SAVEALL)
                gc.collect()
                kinds = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
    assert not kinds, kinds.most_common(10)


async def test_upload_accepts_path_and_stream(server: RunningServer, tmp_path: Path) -> None:
    """A path and a seekable stream upload like bytes."""
    photo = tmp_path / "coffee.png"
    photo.write_bytes(sample_photo("coffee"))
    async with _client(server) as client:
        by_path = await client.upload_image(photo)
        by_stream = await client.upload_image(io.BytesIO(photo.read_bytes()))
    assert by_path != by_stream


async def test_presigned_upload_and_process(server: RunningServer) -> None:
    """Presigned tokens upload and process without a key; a reused token is refused."""
    async with _client(server) as client, _client(server, key="") as anonymous:
        upload_token = await client.presign_upload()
        unique = await anonymous.upload_presigned(upload_token, sample_photo("chelsea"))
        process_token = await client.presign_process(
            unique, [{"variant_name": "cut", "autocrop": True}]
        )
        out = await anonymous.process_presigned(process_token)
        assert list(out.output_urls) == ["cut"]
        with pytest.raises(Unauthorized) as reused:
            await anonymous.process_presigned(process_token)
    assert reused.value.detail == "signed_request has already been used; request a new one"
    assert server.balance(SECRET_KEY) == 1000 - 1.5


async def test_ai_cut_session_accumulates_dots(server: RunningServer, tmp_path: Path) -> None:
    """Initialize (also presigned), then segment twice and undo with request numbers counting up."""
    scene, _ = disc_scene()
    async with _client(server) as client, _client(server, key="") as anonymous:
        init = await client.ai_cut_initialize(scene)
        assert init.s3_path == f"uploads/{init.unique_filename}/input.png"
        assert init.bucket == "backgroundcut-ai-cut"
        token = await client.presign_ai_cut_initialize()
        presigned = await anonymous.ai_cut_initialize_presigned(token, scene)
        assert presigned.unique_filename != init.unique_filename

        session = anonymous.ai_cut_session(init.unique_filename)
        first = await session.segment(green=[(176, 120)])
        second = await session.segment(red=[(5, 5)])
        third = await session.undo()
        assert [first.request_number, second.request_number, third.request_number] == [1, 2, 3]
        assert (len(session.green), len(session.red)) == (1, 0)
        result = await client.download(
            second.output_url, tmp_path / "cut.png", expected_content_type="image/png"
        )
        assert result.size > 0
    assert server.balance(SECRET_KEY) == 1000 - 2  # two initializations; segments are free


async def test_client_side_validation_sends_nothing(server: RunningServer) -> None:
    """jpg with a transparent background is rejected before any request is made."""
    async with _client(server) as client:
        with pytest.raises(InvalidRequest, match="transparent background is not possible"):
            await client.process_image("whatever", [{"format": "jpg"}])
        assert _attempts(client) == []


@pytest.mark.parametrize(
    ("key", "exc_type", "detail"),
    [
        ("wrong-key", Unauthorized, "Invalid API key."),
        ("", Unauthorized, "Missing Authorization header. Use 'Authorization: Bearer <key>'."),
    ],
)
async def test_bad_keys_raise_unauthorized(
    server: RunningServer, key: str, exc_type: type[Exception], detail: str
) -> None:
    """Unknown and empty keys give Unauthorized with the server's detail, not retried."""
    async with _client(server, key=key) as client:
        with pytest.raises(exc_type) as info:
            await client.upload_image(sample_photo())
        assert len(_attempts(client)) == 1
    assert info.value.detail == detail  # type: ignore[attr-defined]


async def test_corrupt_image_is_bad_request(server: RunningServer) -> None:
    """Bytes that are no image give BadRequest and are not retried."""
    async with _client(server) as client:
        with pytest.raises(BadRequest) as info:
            await client.upload_image(b"\x89PNG\r\n\x1a\nnot really a png")
        assert len(_attempts(client)) == 1
    assert info.value.detail == "Corrupt or unreadable image"
    assert info.value.endpoint == "upload"
    assert len(info.value.request_id) == 32


async def test_payment_required_parses_amounts_and_is_not_retried(
    tmp_path: Path, saliency_model: SaliencyModel
) -> None:
    """A key with 1 credit asking for 1.5 gets PaymentRequired(required=1.5, available=1.0)."""
    with running_server(tmp_path / "s", saliency_model, keys="poor:1") as server:
        async with _client(server, key="poor") as client:
            unique = await client.upload_image(sample_photo())
            with pytest.raises(PaymentRequired) as info:
                await client.process_image(unique, [{"autocrop": True}])
            assert len(_attempts(client)) == 2  # the upload and one process attempt
        assert (info.value.required, info.value.available) == (1.5, 1.0)
        assert server.balance("poor") == 1.0


async def test_not_found_is_not_retried(server: RunningServer) -> None:
    """An unknown unique_filename gives NotFound after a single attempt."""
    async with _client(server) as client:
        with pytest.raises(NotFound, match="not found or expired"):
            await client.process_image("00000000-0000-0000-0000-000000000000")
        assert len(_attempts(client)) == 1


async def test_oversized_upload_is_payload_too_large(
    tmp_path: Path, saliency_model: SaliencyModel
) -> None:
    """An upload over the server's byte limit gives PayloadTooLarge."""
    with running_server(tmp_path / "s", saliency_model, max_upload_bytes=10_000) as server:
        async with _client(server) as client:
            with pytest.raises(PayloadTooLarge, match="exceeds the upload limit of 10000 bytes"):
                await client.upload_image(sample_photo())


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [(500, ServerError), (503, ServiceUnavailable), (504, GatewayTimeout), (429, RateLimited)],
)
async def test_server_errors_map_to_exceptions(
    server: RunningServer, status: int, exc_type: type[Exception]
) -> None:
    """With retries off, each injected 5xx/429 surfaces as its own exception type."""
    server.set_faults(script={"upload": [status]})
    async with _client(server, max_attempts=1) as client:
        with pytest.raises(exc_type) as info:
            await client.upload_image(sample_photo())
    assert info.value.status_code == status  # type: ignore[attr-defined]
    if status == 429:
        assert info.value.retry_after == 1.0  # type: ignore[attr-defined]


async def test_rate_limit_honours_retry_after(server: RunningServer) -> None:
    """A 429 with Retry-After: 1 is retried no sooner than 1 s later and then succeeds."""
    server.set_faults(script={"upload": [429]}, retry_after_s=1)
    async with _client(server) as client:
        started = time.monotonic()
        await client.upload_image(sample_photo())
        elapsed = time.monotonic() - started
        statuses = [a.status for a in _attempts(client)]
    assert statuses == [429, 200]
    assert elapsed >= 1.0


async def test_service_unavailable_twice_then_success(server: RunningServer) -> None:
    """Two 503s are retried with backoff and the third attempt succeeds."""
    async with _client(server) as client:
        unique = await client.upload_image(sample_photo())
        server.set_faults(script={"process": [503, 503]})
        out = await client.process_image(unique)
        process_attempts = [a for a in _attempts(client) if a.endpoint == "process"]
    assert [a.status for a in process_attempts] == [503, 503, 200]
    assert [a.attempt for a in process_attempts] == [1, 2, 3]
    assert "default" in out.output_urls
    assert server.balance(SECRET_KEY) == 999  # charged once, failed attempts free


async def test_real_rate_limiter_then_recovery(
    tmp_path: Path, saliency_model: SaliencyModel
) -> None:
    """The server's token bucket (burst 1, 1/s) answers 429 and the client waits it out."""
    with running_server(
        tmp_path / "s", saliency_model, rate_limit_per_s=1.0, rate_limit_burst=1
    ) as server:
        async with _client(server) as client:
            await client.presign_upload()
            await client.presign_upload()
            statuses = [a.status for a in _attempts(client)]
    assert statuses == [200, 429, 200]


async def test_api_key_never_leaks(
    server: RunningServer, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The key appears in no log event, exception string, repr or printed output."""
    secret = "sk-live-do-not-leak-1234567890"
    server.add_credits(secret, 5)
    server.set_faults(script={"process": [503]})
    settings = ClientSettings(base_url=server.url, api_key=secret, backoff_initial_s=0.01)
    with capture_logs() as logs:
        async with BackgroundCutClient(settings) as client:
            unique = await client.upload_image(sample_photo())
            await client.process_image(unique)  # one retried 503 is logged
            with pytest.raises(NotFound) as info:
                await client.process_image("missing")
            texts = [
                repr(client),
                repr(settings),
                str(settings),
                str(info.value),
                repr(info.value),
                str(logs),
                capsys.readouterr().out,
                caplog.text,
            ]
    assert any(event["event"] == "api_error" for event in logs)
    assert all(secret not in text for text in texts)
    structlog.reset_defaults()


async def test_download_rejects_oversize_and_bad_checksum(
    server: RunningServer, tmp_path: Path
) -> None:
    """A body over max_bytes or with the wrong sha256 raises DownloadError and leaves no file."""
    async with _client(server) as client:
        unique = await client.upload_image(sample_photo())
        url = (await client.process_image(unique)).output_urls["default"]
        with pytest.raises(DownloadError, match="exceeds the 1000-byte limit"):
            await client.download(url, tmp_path / "dl" / "big.png", max_bytes=1000)
        with pytest.raises(DownloadError, match="does not match expected"):
            await client.download(url, tmp_path / "dl" / "sum.png", expected_sha256="0" * 64)
        with pytest.raises(DownloadError, match="content type 'image/png', expected 'image/webp'"):
            await client.download(
                url, tmp_path / "dl" / "t.png", expected_content_type="image/webp"
            )
    assert not (tmp_path / "dl").exists() or list((tmp_path / "dl").iterdir()) == []
