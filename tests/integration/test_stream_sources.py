"""Job sources and artifact stores for real: an HTTP origin on 127.0.0.1 and moto's S3 server.

Covers the source allow-list and limits (scheme, private addresses, size, HTTP errors), upload
reuse by URI version (ETag + size, no second download) and by content hash, and S3 as both a
source and the artifact store.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from moto.server import ThreadedMotoServer

from bgcut_stream.events.jobs import ImageJob, InlineSource, UriSource
from tests.integration.test_stream_service import server_uploads, tiny
from tests.support.images import encode
from tests.support.server import RunningServer
from tests.support.stream import StreamHarness, free_port

pytestmark = pytest.mark.integration


@dataclass
class Origin:
    """A tiny HTTP origin: path -> (status, body, ETag); counts requests by method and path."""

    files: dict[str, tuple[int, bytes, str | None]] = field(default_factory=dict)
    hits: Counter[tuple[str, str]] = field(default_factory=Counter)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, with_body: bool) -> None:
                origin.hits[(self.command, self.path)] += 1
                status, body, etag = origin.files.get(self.path, (404, b"missing", None))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if etag is not None:
                    self.send_header("ETag", etag)
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer(with_body=True)

            def do_HEAD(self) -> None:
                self._answer(with_body=False)

            def log_message(self, *_: Any) -> None:
                return

        return Handler


@pytest.fixture
def origin() -> Iterator[Origin]:
    """An HTTP origin on 127.0.0.1 serving test images."""
    state = Origin()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), state.handler())
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def harness_for(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path, **overrides: Any
) -> StreamHarness:
    return StreamHarness(kafka_bootstrap, server.url, tmp_path / "artifacts", overrides=overrides)


def test_uri_source_is_fetched_once_and_reused_by_etag_until_it_changes(
    kafka_bootstrap: str, server: RunningServer, origin: Origin, tmp_path: Path
) -> None:
    """Same URI and ETag: no second download or upload; a new ETag is fetched and uploaded."""
    origin.files["/cat.png"] = (200, tiny(400), '"v1"')
    harness = harness_for(
        kafka_bootstrap, server, tmp_path, source_schemes="http", allow_private_sources=True
    )
    uri = f"{origin.url}/cat.png"
    with harness.running():
        harness.publish(ImageJob(job_id="first", source=UriSource(uri)))
        harness.results(1)
        harness.publish(ImageJob(job_id="second", source=UriSource(uri)))
        harness.results(2)
        origin.files["/cat.png"] = (200, tiny(401), '"v2"')
        harness.publish(ImageJob(job_id="changed", source=UriSource(uri)))
        results = {r.job_id: r for r in harness.results(3)}
    assert {r.status for r in results.values()} == {"SUCCEEDED"}
    assert results["second"].upload_reused is True
    assert results["second"].unique_filename == results["first"].unique_filename
    assert results["changed"].upload_reused is False
    assert results["changed"].unique_filename != results["first"].unique_filename
    assert origin.hits[("GET", "/cat.png")] == 2
    assert origin.hits[("HEAD", "/cat.png")] == 3
    assert server_uploads(server) == 2


def test_uri_source_without_etag_is_downloaded_but_uploaded_once(
    kafka_bootstrap: str, server: RunningServer, origin: Origin, tmp_path: Path
) -> None:
    """No validator: every job downloads the image, the content hash still saves the upload."""
    origin.files["/plain.png"] = (200, tiny(402), None)
    harness = harness_for(
        kafka_bootstrap, server, tmp_path, source_schemes="http", allow_private_sources=True
    )
    uri = f"{origin.url}/plain.png"
    harness.publish(*[ImageJob(job_id=f"plain-{i}", source=UriSource(uri)) for i in range(2)])
    with harness.running():
        results = harness.results(2)
    assert {r.status for r in results} == {"SUCCEEDED"}
    assert origin.hits[("GET", "/plain.png")] == 2
    assert server_uploads(server) == 1


def test_bad_sources_are_dead_lettered_with_the_reason_and_good_jobs_pass(
    kafka_bootstrap: str, server: RunningServer, origin: Origin, tmp_path: Path
) -> None:
    """Disallowed scheme, oversized body, HTTP 404 and a dead origin (503) each fail alone."""
    origin.files["/huge.png"] = (200, b"x" * 5000, None)
    origin.files["/down.png"] = (503, b"unavailable", None)
    harness = harness_for(
        kafka_bootstrap,
        server,
        tmp_path,
        source_schemes="http",
        allow_private_sources=True,
        max_source_bytes=4000,
        job_attempts=2,
    )
    harness.publish(
        ImageJob(job_id="file-scheme", source=UriSource("file:///etc/passwd")),
        ImageJob(job_id="huge", source=UriSource(f"{origin.url}/huge.png")),
        ImageJob(job_id="missing", source=UriSource(f"{origin.url}/nope.png")),
        ImageJob(job_id="down", source=UriSource(f"{origin.url}/down.png")),
        ImageJob(job_id="good", source=InlineSource(tiny(403))),
    )
    with harness.running():
        results = {r.job_id: r for r in harness.results(5)}
    details = {k: (r.error.reason, r.error.detail) for k, r in results.items() if r.error}
    assert results["good"].status == "SUCCEEDED"
    assert details["file-scheme"] == (
        "invalid",
        "source: source scheme 'file' is not allowed (allowed: ['http'])",
    )
    assert details["huge"] == (
        "invalid",
        f"source: GET {origin.url}/huge.png: body over 4000 bytes",
    )
    assert details["missing"] == ("invalid", f"source: GET {origin.url}/nope.png: HTTP 404")
    assert details["down"][0] == "exhausted"
    assert f"GET {origin.url}/down.png: HTTP 503" in details["down"][1]
    assert origin.hits[("GET", "/down.png")] == 2  # one per whole-job try
    assert len(harness.dead_letters("invalid")) == 3
    assert len(harness.dead_letters("exhausted")) == 1
    assert server.balance("test-key") == 1000 - 1


def test_private_addresses_are_refused_unless_allowed(
    kafka_bootstrap: str, server: RunningServer, origin: Origin, tmp_path: Path
) -> None:
    """By default a source resolving to 127.0.0.1 is refused (no SSRF), and nothing is fetched."""
    origin.files["/internal.png"] = (200, tiny(404), '"i1"')
    harness = harness_for(kafka_bootstrap, server, tmp_path, source_schemes="http")
    harness.publish(
        ImageJob(job_id="ssrf", source=UriSource(f"{origin.url}/internal.png")),
        ImageJob(job_id="good", source=InlineSource(tiny(405))),
    )
    with harness.running():
        results = {r.job_id: r for r in harness.results(2)}
    assert results["good"].status == "SUCCEEDED"
    error = results["ssrf"].error
    assert error is not None
    assert error.reason == "invalid"
    assert error.detail == (
        "source: source host '127.0.0.1' resolves to non-public address 127.0.0.1; "
        "set BGCUT_ALLOW_PRIVATE_SOURCES=true to allow it"
    )
    assert sum(origin.hits.values()) == 0


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1 (a real HTTP endpoint), with dummy credentials."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    yield f"http://127.0.0.1:{port}"
    moto.stop()


def test_s3_source_and_s3_artifact_store(
    kafka_bootstrap: str, server: RunningServer, s3: str, tmp_path: Path
) -> None:
    """An s3:// source is read (and reused by ETag); outputs land in the artifact bucket."""
    client = boto3.client("s3", endpoint_url=s3)
    client.create_bucket(Bucket="sources")
    client.create_bucket(Bucket="outputs")
    photo = encode(np.random.default_rng(7).integers(0, 255, (40, 60, 3), dtype=np.uint8))
    client.put_object(Bucket="sources", Key="in/photo.png", Body=photo)
    harness = harness_for(
        kafka_bootstrap,
        server,
        tmp_path,
        source_schemes="s3",
        s3_endpoint_url=s3,
        artifact_store="s3://outputs/bgcut",
    )
    with harness.running():  # one after the other: the second meets the first's cache entry
        harness.publish(ImageJob(job_id="s3-1", source=UriSource("s3://sources/in/photo.png")))
        harness.results(1)
        harness.publish(ImageJob(job_id="s3-2", source=UriSource("s3://sources/in/photo.png")))
        results = {r.job_id: r for r in harness.results(2)}
    assert {r.status for r in results.values()} == {"SUCCEEDED"}
    assert results["s3-2"].upload_reused is True
    assert server_uploads(server) == 1
    for result in results.values():
        (artifact,) = result.artifacts
        assert artifact.location.startswith("s3://outputs/bgcut/")
        key = artifact.location.removeprefix("s3://outputs/")
        head = client.head_object(Bucket="outputs", Key=key)
        assert head["ContentLength"] == artifact.bytes
        assert head["ContentType"] == artifact.content_type
