"""Issue 14, outbound side: a real HTTP origin on 127.0.0.1 plays a malicious API and redirector.

Output downloads go through ``BackgroundCutClient.download`` (the stream service's path) and
sources through ``SourceFetcher``; the origin counts every request it gets, so a refused fetch
is shown never to have reached anything.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from bgcut_stream.client import BackgroundCutClient
from bgcut_stream.client.download import download_to
from bgcut_stream.client.exceptions import DownloadError, TransportError
from bgcut_stream.client.file_work import FileWork
from bgcut_stream.client.settings import ClientSettings
from bgcut_stream.events.jobs import UriSource
from bgcut_stream.net.egress import EgressPolicy, GuardedPoolTransport, guarded_client
from bgcut_stream.stream.exceptions import SourceError
from bgcut_stream.stream.settings import StreamSettings
from bgcut_stream.stream.sources import SourceFetcher
from tests.integration.test_stream_sources import s3  # noqa: F401 - fixture

pytestmark = pytest.mark.integration
METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


class Malicious:
    """An origin: ``/ok.png`` serves bytes, ``/to?url=X`` redirects to X; counts hits by path."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                origin.hits[path] += 1
                if path == "/to":
                    self.send_response(302)
                    self.send_header("Location", query.removeprefix("url="))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)

            do_HEAD = do_GET  # noqa: N815 - http.server's method naming

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def origin() -> Iterator[Malicious]:
    """The malicious API / redirector."""
    server = Malicious()
    yield server
    server.server.shutdown()


def _download(origin: Malicious, url: str, tmp_path: Path, **settings: object) -> Path:
    async def run() -> Path:
        config = ClientSettings(base_url=origin.url, api_key="k", **settings)  # type: ignore[arg-type]
        async with BackgroundCutClient(config) as client:
            result = await client.download(url, tmp_path / "out.png")
        return result.path

    return asyncio.run(run())


def test_output_url_on_the_api_host_downloads(origin: Malicious, tmp_path: Path) -> None:
    """The API's own host (even on a private address: it is the configured origin) works,
    and a redirect that stays on it is followed."""
    assert _download(origin, f"{origin.url}/ok.png", tmp_path).read_bytes() == PNG
    hop = f"{origin.url}/to?url={origin.url}/ok.png"
    assert _download(origin, hop, tmp_path).read_bytes() == PNG


def test_output_url_pointing_at_metadata_is_refused(origin: Malicious, tmp_path: Path) -> None:
    """An API answer whose output URL is 169.254.169.254 is never fetched."""
    with pytest.raises(DownloadError, match="not in the allow-list"):
        _download(origin, METADATA, tmp_path)
    assert not (tmp_path / "out.png").exists()


def test_redirect_off_the_list_is_refused(origin: Malicious, tmp_path: Path) -> None:
    """A 302 from the API host to the metadata address is not followed."""
    with pytest.raises(DownloadError, match=r"169\.254\.169\.254"):
        _download(origin, f"{origin.url}/to?url={METADATA}", tmp_path)
    assert origin.hits == Counter({"/to": 1})
    assert not list(tmp_path.iterdir())


def test_cdn_host_resolving_to_loopback_is_refused(origin: Malicious, tmp_path: Path) -> None:
    """A listed CDN host whose DNS answer is 127.0.0.1 (here: localhost) is refused after
    resolution, also when reached by a redirect; the origin never sees the request."""
    cdn = f"http://localhost:{origin.port}/ok.png"
    with pytest.raises(DownloadError, match="non-public address"):
        _download(origin, cdn, tmp_path, download_hosts="localhost")
    with pytest.raises(DownloadError, match="non-public address"):
        _download(origin, f"{origin.url}/to?url={cdn}", tmp_path, download_hosts="localhost")
    assert origin.hits == Counter({"/to": 1})


async def _nxdomain(host: str, port: int) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


async def _no_answers(host: str, port: int) -> list[str]:
    return []


@pytest.mark.parametrize("resolver", [_nxdomain, _no_answers], ids=["nxdomain", "no-answers"])
def test_a_cdn_host_that_does_not_resolve_is_a_transport_error(
    resolver: Callable[[str, int], Awaitable[list[str]]], tmp_path: Path
) -> None:
    """A failed lookup is a network error, retried as one (it escaped the client's exception
    tree as httpcore's ``ConnectError`` once downloads ran on aiohttp's pool)."""
    policy = EgressPolicy(hosts=frozenset({"cdn.test"}), what="download", resolver=resolver)

    async def run() -> None:
        transport = GuardedPoolTransport(policy, max_connections=2)
        async with guarded_client(policy, transport=transport) as http:
            await download_to(
                http, "http://cdn.test/o.png", tmp_path / "o.png", files=FileWork(), max_bytes=99
            )

    with pytest.raises(TransportError, match=r"ConnectError: .*cannot resolve 'cdn\.test'"):
        asyncio.run(run())
    assert not list(tmp_path.iterdir())


def _fetch(settings: StreamSettings, uri: str) -> bytes:
    async def run() -> bytes:
        fetcher = SourceFetcher(settings)
        try:
            await fetcher.validator(UriSource(uri))
            return (await fetcher.fetch(UriSource(uri))).data
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


def test_source_redirect_is_not_followed(origin: Malicious) -> None:
    """A source origin answering 302 to the metadata address gets a non-retriable error."""
    settings = StreamSettings(source_schemes="http", allow_private_sources=True)
    with pytest.raises(SourceError, match="redirects are not followed"):
        _fetch(settings, f"{origin.url}/to?url={METADATA}")
    assert origin.hits["/to"] == 2  # the HEAD probe and the GET, never the target


def test_source_host_resolving_to_loopback_is_refused(origin: Malicious) -> None:
    """An allowed source host whose address is loopback is refused; the origin sees nothing."""
    settings = StreamSettings(source_schemes="http", source_hosts="localhost")
    with pytest.raises(SourceError, match=r"non-public address 127\.0\.0\.1"):
        _fetch(settings, f"http://localhost:{origin.port}/ok.png")
    assert sum(origin.hits.values()) == 0


@pytest.fixture
def bucket(s3: str) -> str:  # noqa: F811 - the imported fixture
    """One object in moto's S3 (the ``s3`` fixture of the sources tests); the endpoint URL."""
    client = boto3.client("s3", endpoint_url=s3)
    client.create_bucket(Bucket="src")
    client.put_object(Bucket="src", Key="a.png", Body=PNG)
    return s3


def test_s3_endpoint_host_goes_through_the_allow_list(bucket: str) -> None:
    """s3:// sources no longer skip the host allow-list: the endpoint host boto3 connects to
    must be listed; the configured endpoint itself may be private."""
    allowed = StreamSettings(source_schemes="s3", s3_endpoint_url=bucket, source_hosts="127.0.0.1")
    assert _fetch(allowed, "s3://src/a.png") == PNG
    other = StreamSettings(source_schemes="s3", s3_endpoint_url=bucket, source_hosts="img.example")
    with pytest.raises(SourceError, match=r"'127\.0\.0\.1' is not in the allow-list"):
        _fetch(other, "s3://src/a.png")


def test_s3_endpoint_that_is_not_the_configured_one_must_be_public(bucket: str) -> None:
    """The same moto endpoint reached under another name (localhost, not the configured
    127.0.0.1 origin) is judged by its address: loopback, refused."""
    port = bucket.rsplit(":", 1)[1]
    settings = StreamSettings(source_schemes="s3", s3_endpoint_url=f"http://localhost:{port}")
    fetcher = SourceFetcher(settings)
    fetcher.policy = EgressPolicy(what="source")  # the endpoint's trust withdrawn
    with pytest.raises(SourceError, match="non-public address"):
        asyncio.run(fetcher.fetch(UriSource("s3://src/a.png")))
