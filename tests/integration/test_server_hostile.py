"""Issue 14: the server probed as an attacker would, black-box over HTTP on 127.0.0.1.

One test per finding. The spooling, memory and logging findings run against ``bgcut-stream
server`` as its own process (its RSS, its TMPDIR and its access log are what is measured); the
others use the in-process server of ``tests.support.server`` (same app, same uvicorn config).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from bgcut_stream.api import paths
from bgcut_stream.imaging.saliency import SaliencyModel
from tests.support.images import encode
from tests.support.server import ADMIN_TOKEN, RunningServer, running_server
from tests.support.stream import free_port

pytestmark = pytest.mark.integration

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
UPLOAD, UPLOAD_PRESIGN, UPLOAD_PRESIGNED = (
    paths.UPLOAD,
    paths.UPLOAD_PRESIGN,
    paths.UPLOAD_PRESIGNED,
)
PROCESS, PROCESS_PRESIGN, PROCESS_PRESIGNED = (
    paths.PROCESS,
    paths.PROCESS_PRESIGN,
    paths.PROCESS_PRESIGNED,
)
INIT, SEGMENT = paths.AI_CUT_INITIALIZE, paths.AI_CUT_SEGMENT
MIB = 1024 * 1024
HUGE = 400 * MIB
SMALL_LIMIT = 2 * MIB
BOUNDARY = "hostileboundary"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
BIG_SIDE = (6000, 5000)  # 30 MP: 120 MB once decoded by Pillow, about 90 KB as a PNG of zeros


def _tiny() -> bytes:
    return encode(np.full((24, 32, 3), 128, "uint8"))


def _envelope(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail"}
    assert isinstance(body["detail"], str)
    return str(body["detail"])


# --- the server as its own process --------------------------------------------------------


@dataclass
class ServerProcess:
    """``bgcut-stream server`` in a child process: URL, pid, data dir, TMPDIR and log file."""

    url: str
    proc: subprocess.Popen[bytes]
    data_dir: Path
    tmp_dir: Path
    log: Path

    def vm_hwm_kib(self) -> int:
        """Peak resident set of the server process (kernel high-water mark)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")

    def spooled_bytes(self) -> int:
        """Bytes in files under TMPDIR and the data dir's uploads (what a body could spool)."""
        total = 0
        for root in (self.tmp_dir, self.data_dir / "uploads"):
            for path in root.rglob("*"):
                if path.is_file():
                    total += path.stat().st_size
        return total


@pytest.fixture(scope="module")
def child(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The real CLI server, small limits, access log on, its own empty TMPDIR."""
    base = tmp_path_factory.mktemp("hostile")
    data_dir, tmp_dir, log = base / "data", base / "tmp", base / "server.log"
    tmp_dir.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "TMPDIR": str(tmp_dir),
        "BGCUT_SERVER_KEYS": f"{KEY}:1000",
        "BGCUT_SERVER_RATE_LIMIT_PER_S": "0",
        "BGCUT_SERVER_MAX_UPLOAD_BYTES": str(SMALL_LIMIT),
        "BGCUT_SERVER_MAX_IMAGE_PIXELS": str(BIG_SIDE[0] * BIG_SIDE[1]),
        "BGCUT_SERVER_DECODE_BUDGET_PIXELS": str(BIG_SIDE[0] * BIG_SIDE[1]),
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "bgcut_stream", "server", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--log-level", "info"]
    with log.open("wb") as sink:
        proc = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    try:
        yield ServerProcess(url, proc, data_dir, tmp_dir, log)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


class Counted:
    """A lazy request body of ``total`` bytes that counts what was actually pulled."""

    def __init__(self, total: int, head: bytes = b"") -> None:
        self.total = total
        self.head = head
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        chunk = b"\0" * (256 * 1024)
        if self.head:
            self.sent += len(self.head)
            yield self.head
        while self.sent < self.total:
            self.sent += len(chunk)
            yield chunk


def _multipart_head() -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="x.png"'
        "\r\nContent-Type: image/png\r\n\r\n"
    ).encode()


def _raw_exchange(url: str, head: str) -> bytes:
    """Send only a request head (no body) and read what the server answers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"}"):
            part = sock.recv(65536)
            if not part:
                break
            data += part
    return data


def test_unauthenticated_400_mib_declared_upload_is_refused_unread(child: ServerProcess) -> None:
    """Content-Length 400 MiB, no key: answered from the headers, no body byte read or spooled."""
    before = child.spooled_bytes()
    head = (
        f"POST {UPLOAD} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {HUGE}\r\n"
        f"Content-Type: {MULTIPART['Content-Type']}\r\n\r\n"
    )
    answer = _raw_exchange(child.url, head)  # not one body byte sent
    status = int(answer.split(b" ", 2)[1])
    assert status in {401, 413}
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["detail"]
    assert child.spooled_bytes() == before


@pytest.mark.parametrize(
    ("path", "params", "headers", "status"),
    [
        (UPLOAD, {}, {}, 401),  # no key
        (UPLOAD, {}, {"Authorization": "Bearer nobody"}, 401),  # unknown key
        (UPLOAD_PRESIGNED, {"signed_request": "forged.token"}, {}, 401),  # bad token
        (UPLOAD, {}, AUTH, 413),  # good key, body over the limit
        (INIT, {}, AUTH, 413),
    ],
)
def test_chunked_400_mib_upload_is_cut_off_at_the_limit(
    child: ServerProcess, path: str, params: dict[str, str], headers: dict[str, str], status: int
) -> None:
    """A chunked 400 MiB body: the answer comes before the client has sent 8% of it."""
    before = child.spooled_bytes()
    body = Counted(HUGE, _multipart_head())
    with httpx.Client(timeout=60) as client:
        response = client.post(
            f"{child.url}{path}", params=params, headers={**headers, **MULTIPART}, content=body
        )
    _envelope(response, status)
    assert body.sent < 32 * MIB, f"server read {body.sent} bytes before answering"
    assert child.spooled_bytes() == before


def _bomb_png(width: int, height: int) -> bytes:
    """A valid RGB PNG of zeros: tiny on the wire, ``width*height*4`` bytes once decoded."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload).to_bytes(4, "big")
        return len(payload).to_bytes(4, "big") + kind + payload + crc

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def test_parallel_decompression_bombs_share_one_pixel_budget(child: ServerProcess) -> None:
    """Six 30 MP PNGs of ~90 KB at once: decodes are admitted one budget at a time (503 +
    Retry-After for the rest) and the server's peak RSS grows by far less than six decodes."""
    png = _bomb_png(*BIG_SIDE)
    assert len(png) < 200_000
    one_decode_kib = BIG_SIDE[0] * BIG_SIDE[1] * 4 // 1024
    baseline = child.vm_hwm_kib()

    def upload(_: int) -> httpx.Response:
        return httpx.post(
            f"{child.url}{UPLOAD}", headers=AUTH, files={"image": ("b.png", png)}, timeout=120
        )

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(upload, range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses
    refused = [r for r in responses if r.status_code == 503]
    assert refused, "no decode was refused: the budget did not bind"
    for response in refused:
        assert "too many pixels" in _envelope(response, 503)
        assert int(response.headers["retry-after"]) >= 1
    growth = child.vm_hwm_kib() - baseline
    assert growth < 1.6 * one_decode_kib, f"peak RSS grew {growth} KiB (two decodes at once)"


def test_tokens_never_reach_the_access_log_and_burn_on_failed_use(child: ServerProcess) -> None:
    """The access log shows ``signed_request=[redacted]``; a token whose use failed is spent."""
    token = httpx.post(f"{child.url}{UPLOAD_PRESIGN}", headers=AUTH).json()["signed_request"]
    failed = httpx.post(
        f"{child.url}{UPLOAD_PRESIGNED}",
        params={"signed_request": token},
        files={"image": ("x.png", b"not an image")},
    )
    assert _envelope(failed, 400) == "Corrupt or unreadable image"
    again = httpx.post(
        f"{child.url}{UPLOAD_PRESIGNED}",
        params={"signed_request": token},
        files={"image": ("x.png", _tiny())},
    )
    assert _envelope(again, 401) == "signed_request has already been used; request a new one"
    deadline = time.monotonic() + 10
    while "upload-image/presigned/?signed_request=" not in child.log.read_text():
        assert time.monotonic() < deadline, "access log line never written"
        time.sleep(0.05)
    text = child.log.read_text()
    assert token not in text
    assert token.split(".")[0] not in text
    assert "signed_request=[redacted]" in text


def test_token_carries_nothing_derived_from_the_key(child: ServerProcess) -> None:
    """A token is an opaque id and an HMAC: no sha256(key), no JSON, nothing to crack offline."""
    token = httpx.post(f"{child.url}{UPLOAD_PRESIGN}", headers=AUTH).json()["signed_request"]
    ident, _, signature = token.partition(".")
    assert "." not in signature
    raw_id = base64.urlsafe_b64decode(ident + "=" * (-len(ident) % 4))
    raw_sig = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    assert (len(raw_id), len(raw_sig)) == (18, 32)  # a random id and an HMAC-SHA256, no payload
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    assert digest not in token


# --- in-process server: same app and uvicorn config --------------------------------------


@pytest.fixture(scope="module")
def model() -> SaliencyModel:
    """One model for this module's in-process servers."""
    return SaliencyModel()


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory, model: SaliencyModel
) -> Iterator[RunningServer]:
    """A server with short read deadlines and small in-flight/connection caps."""
    with running_server(
        tmp_path_factory.mktemp("guarded"),
        model,
        rate_limit_per_s=0,
        header_timeout_s=1.0,
        body_idle_timeout_s=1.0,
        max_requests=4,
        max_connections=16,
    ) as server:
        yield server


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        (
            "POST",
            UPLOAD_PRESIGNED,
            {"params": {"signed_request": "abc.\u00e9\u00e9"}, "files": {"image": ("x.png", b"x")}},
            401,
        ),
        ("POST", PROCESS_PRESIGNED, {"json": {"signed_request": "abc.\u00e9\u00e9"}}, 401),
        ("POST", PROCESS_PRESIGNED, {"json": {"signed_request": "\u00e9" * 5000}}, 401),
        ("GET", "/_admin/faults", {"headers": {"X-Admin-Token": b"\xe9\xe9"}}, 404),
        ("POST", "/_admin/credits", {"json": {"api_key": "new-key", "credits": -5}}, 400),
        ("POST", "/_admin/credits", {"content": b'{"api_key": "k", "credits": NaN}'}, 400),
        ("POST", "/_admin/credits", {"content": b'{"api_key": "k", "credits": Infinity}'}, 400),
        ("POST", "/_admin/credits", {"content": b'{"api_key": "k", "credits": 1e308}'}, 400),
        ("POST", SEGMENT, {"json": {"unique_filename": "x", "request_number": 10**250}}, 400),
    ],
)
def test_former_500s_are_4xx_envelopes_and_keep_the_connection(
    guarded: RunningServer, method: str, path: str, kwargs: dict[str, object], status: int
) -> None:
    """Each input that used to crash a handler is a 4xx ``{"detail"}``; keep-alive survives."""
    headers: dict[str, object] = {"X-Admin-Token": ADMIN_TOKEN}
    if "content" in kwargs:
        headers["Content-Type"] = "application/json"
    headers.update(kwargs.pop("headers", {}))  # type: ignore[arg-type]
    with httpx.Client(base_url=guarded.url, timeout=30) as client:
        response = client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
        _envelope(response, status)
        if "files" not in kwargs:  # an upload refused before its body was read closes instead
            assert response.headers.get("connection") != "close"
        assert client.get("/healthz").status_code == 200


def test_forged_host_never_reaches_links(guarded: RunningServer) -> None:
    """Without PUBLIC_URL a Host off the allow-list is a 400 before any charge."""
    unique = httpx.post(
        f"{guarded.url}{UPLOAD}", headers=AUTH, files={"image": ("t.png", _tiny())}
    ).json()["unique_filename"]
    balance = guarded.balance(KEY)
    body = {"unique_filename": unique}
    evil = httpx.post(
        f"{guarded.url}{PROCESS}", headers={**AUTH, "Host": "evil.example:8443"}, json=body
    )
    assert "Host header" in _envelope(evil, 400)
    assert guarded.balance(KEY) == balance
    token = httpx.post(f"{guarded.url}{PROCESS_PRESIGN}", headers=AUTH, json=body)
    presigned = httpx.post(
        f"{guarded.url}{PROCESS_PRESIGNED}",
        headers={"Host": "evil.example"},
        json={"signed_request": token.json()["signed_request"]},
    )
    _envelope(presigned, 400)
    good = httpx.post(f"{guarded.url}{PROCESS}", headers=AUTH, json=body, timeout=60)
    assert good.status_code == 200
    urls = [good.json()["input_url"], *good.json()["output_urls"].values()]
    assert all(u.startswith(guarded.url) for u in urls)


def _connect(server: RunningServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=20)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while True:
        part = sock.recv(65536)
        if not part:
            return data
        data += part


def test_half_sent_requests_are_closed(guarded: RunningServer) -> None:
    """Slowloris: requests with unfinished headers are answered 408 and closed, none stays open."""
    sockets = [_connect(guarded) for _ in range(12)]
    try:
        for sock in sockets:
            sock.sendall(b"POST /v3/remove-bg/upload-image/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow")
        for sock in sockets:
            answer = _read_all(sock)  # returns only once the server closes the connection
            assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
            assert b"Request headers not received in time." in answer
        with _connect(guarded) as idle:  # a connection that never sends a byte is closed too
            assert _read_all(idle).startswith(b"HTTP/1.1 408")
    finally:
        for sock in sockets:
            sock.close()


def test_stalled_body_is_408_and_frees_its_slot(guarded: RunningServer) -> None:
    """A body that stops arriving is answered 408 ``{"detail"}`` and the connection closed."""
    with _connect(guarded) as sock:
        sock.sendall(
            f"POST {UPLOAD} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: {MULTIPART['Content-Type']}\r\nContent-Length: 5000\r\n\r\n".encode()
            + _multipart_head()
        )
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["detail"].startswith(
        "Request body not received in time"
    )


def test_overload_503_carries_retry_after(tmp_path: Path, model: SaliencyModel) -> None:
    """With every in-flight slot held by a slow body, the next request gets 503 + Retry-After."""
    with running_server(tmp_path / "s", model, max_requests=4, body_idle_timeout_s=60) as server:
        held = [_connect(server) for _ in range(4)]

        def presign() -> httpx.Response:
            return httpx.post(f"{server.url}{UPLOAD_PRESIGN}", headers=AUTH)

        try:
            for sock in held:
                sock.sendall(
                    f"POST {UPLOAD} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}"
                    f"\r\nContent-Type: {MULTIPART['Content-Type']}\r\nContent-Length: 5000"
                    "\r\n\r\n".encode()
                )
            deadline = time.monotonic() + 20
            response = presign()
            while response.status_code == 200:  # until the four held requests reach the app
                assert time.monotonic() < deadline, "the held requests never took the slots"
                time.sleep(0.05)
                response = presign()
            assert httpx.get(f"{server.url}/healthz").status_code == 200  # probes still answer
            assert "overloaded" in _envelope(response, 503)
            assert response.headers["retry-after"] == "2"
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 20  # the slots come back once those requests end
        while presign().status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_connection_flood_gets_503_with_retry_after(tmp_path: Path, model: SaliencyModel) -> None:
    """Past ``max_connections`` open sockets, a new connection is answered 503 + Retry-After."""
    with running_server(tmp_path / "s", model, max_connections=5, header_timeout_s=30) as server:
        held = [_connect(server) for _ in range(5)]
        try:
            time.sleep(0.2)
            with _connect(server) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                answer = _read_all(extra)
            assert answer.startswith(b"HTTP/1.1 503"), answer[:80]
            assert b"retry-after: 2" in answer.lower()
            assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["detail"]
        finally:
            for sock in held:
                sock.close()
