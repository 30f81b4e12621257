"""A latency-only BackgroundCut API stub: canned answers after a delay, near-zero CPU.

Raw asyncio HTTP/1.1 with keep-alive (no framework, so its own CPU stays out of the figures):
upload → a unique_filename, process → output URLs on this host, ``/files/…`` → a tiny image of
the variant's format, ``…/presign/`` → a token. ``GET /_stats`` reports request counts and the
time the first API call arrived. The delay is fixed, or with ``--jitter S`` drawn per call from a
lognormal distribution of that mean and shape S (seeded: the same draws every run), as a real
API's latency varies. Run: ``python bench/latency_stub.py --port P --latency-ms 100``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import random
import time
from typing import Any

from PIL import Image

CONTENT_TYPES = {"png": "image/png", "webp": "image/webp", "jpg": "image/jpeg"}


def _images() -> dict[str, bytes]:
    out = {}
    for ext, fmt in (("png", "PNG"), ("webp", "WEBP"), ("jpg", "JPEG")):
        buffer = io.BytesIO()
        Image.new("RGB" if ext == "jpg" else "RGBA", (8, 8), (10, 200, 30)).save(buffer, fmt)
        out[ext] = buffer.getvalue()
    return out


class Stub:
    """Shared state: the delay, the canned images, counters."""

    def __init__(self, latency_s: float, base: str, jitter: float = 0.0) -> None:
        self.latency_s = latency_s
        self.jitter = jitter
        self._random = random.Random(13)
        self.base = base
        self.images = _images()
        self.counts: dict[str, int] = {}
        self.first_call: float | None = None
        self.uploads = 0

    def delay(self) -> float:
        """Seconds before the next answer: the mean, or a lognormal draw of that mean."""
        if not self.jitter:
            return self.latency_s
        mu = math.log(self.latency_s) - self.jitter**2 / 2  # so that the mean is latency_s
        return self._random.lognormvariate(mu, self.jitter)

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request."""
        if path == "/_stats":
            stats = {"counts": self.counts, "first_call": self.first_call}
            return 200, "application/json", json.dumps(stats).encode()
        self.counts[path.split("?", maxsplit=1)[0]] = (
            self.counts.get(path.split("?", maxsplit=1)[0], 0) + 1
        )
        if path.startswith("/files/"):
            ext = path.rsplit(".", 1)[-1]
            return 200, CONTENT_TYPES.get(ext, "image/png"), self.images.get(ext, b"")
        if path.endswith("/presign/"):
            return 200, "application/json", b'{"signed_request": "stub-token"}'
        if path == "/v3/remove-bg/upload-image/":
            self.uploads += 1
            return 200, "application/json", b'{"unique_filename": "u-%d"}' % self.uploads
        if path == "/v3/remove-bg/process-image/":
            request: dict[str, Any] = json.loads(body or b"{}")
            variants = request.get("variants") or [{}]
            urls = {
                v.get("variant_name", "default"): (
                    f"{self.base}/files/{v.get('variant_name', 'default')}.{v.get('format', 'png')}"
                )
                for v in variants
            }
            answer = {
                "unique_filename": request.get("unique_filename", "u"),
                "input_url": f"{self.base}/files/input.png",
                "output_urls": urls,
            }
            return 200, "application/json", json.dumps(answer).encode()
        return 404, "application/json", b'{"detail": "Not Found"}'


async def _serve_connection(
    stub: Stub, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)
            }
            length = int(headers.get("content-length", "0"))
            body = await reader.readexactly(length) if length else b""
            if path != "/_stats":
                if stub.first_call is None:  # when the first call arrives, not when it is answered
                    stub.first_call = time.time()
                await asyncio.sleep(stub.delay())
            status, content_type, payload = stub.answer(method, path, body)
            writer.write(
                f"HTTP/1.1 {status} OK\r\ncontent-type: {content_type}\r\n"
                f"content-length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(port: int, latency_ms: float, jitter: float) -> None:
    """Serve until killed."""
    stub = Stub(latency_ms / 1000, f"http://127.0.0.1:{port}", jitter)
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(stub, r, w), "127.0.0.1", port, backlog=4096
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=100.0, help="mean delay per call")
    parser.add_argument("--jitter", type=float, default=0.0, help="lognormal shape; 0: fixed")
    args = parser.parse_args()
    asyncio.run(main(args.port, args.latency_ms, args.jitter))
