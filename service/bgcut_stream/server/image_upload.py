"""Read and check the multipart ``image`` field of upload requests, streaming.

Nothing is read before the headers pass (content type, ``Content-Length``, key or token: see
``routes.common``). The body is then parsed as it arrives with python-multipart's streaming
parser: bytes are counted while they stream and the read stops at the limit, only the ``image``
field is kept (in memory, at most ``max_upload_bytes``), nothing is spooled to disk. The image
header gives its size before any decode, and the full decode that verifies the stream is
admitted against the engine's queue and pixel budget like every other decode.
"""

from __future__ import annotations

import io
import warnings

from fastapi import Request
from PIL import Image, UnidentifiedImageError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from bgcut_stream.imaging.decode import ImageInfo, inspect
from bgcut_stream.imaging.exceptions import (
    CorruptImageError,
    TooManyPixelsError,
    UnsupportedImageError,
)
from bgcut_stream.server.exceptions import BadRequest, PayloadTooLarge
from bgcut_stream.server.state import ServerState

MULTIPART_SLACK = 64 * 1024
FIELD = "image"
_MISSING = "Missing required field: image"
_CORRUPT = "Corrupt or unreadable image"
UPLOAD_OPENAPI: dict[str, object] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {
                        FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "PNG, JPG, JPEG or WebP.",
                        }
                    },
                }
            }
        },
    }
}


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Image exceeds the upload limit of {limit} bytes.")


def check_declared_size(request: Request, limit: int) -> None:
    """Refuse a body whose Content-Length is over the limit before reading it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        raise _too_large(limit)


class _ImageField:
    """python-multipart callbacks keeping the first ``image`` file part, up to ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.found = False
        self.too_large = False
        self._in_image = False
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""

    def on_part_begin(self) -> None:
        self._in_image = False
        self._disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        is_file = b"filename" in params or b"filename*" in params
        self._in_image = params.get(b"name") == FIELD.encode() and is_file and not self.found
        self.found = self.found or self._in_image

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_image:
            return
        self.data += data[start:end]
        if len(self.data) > self.limit:
            self.too_large = True
            self._in_image = False

    def parser(self, boundary: bytes) -> MultipartParser:
        callbacks = {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
        }
        return MultipartParser(boundary, callbacks, max_header_count=8, max_header_size=4096)  # type: ignore[arg-type]


async def receive_image(request: Request, limit: int) -> bytes:
    """The ``image`` file field's bytes, read as the body streams in; 400/413 on bad bodies."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise BadRequest("Malformed multipart body: no boundary in Content-Type.")
    field = _ImageField(limit)
    parser = field.parser(boundary)
    body_limit = limit + MULTIPART_SLACK
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_limit:
                raise _too_large(limit)
            parser.write(chunk)
            if field.too_large:
                raise _too_large(limit)
        parser.finalize()
    except MultipartParseError as exc:
        raise BadRequest("Malformed multipart body.") from exc
    if not field.found:
        raise BadRequest(_MISSING)
    if not field.data:
        raise BadRequest("Empty image file.")
    return bytes(field.data)


def image_pixels(data: bytes, max_pixels: int) -> int:
    """Width x height from the image header alone (Pillow reads pixels lazily); 400/413."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"Image exceeds the {max_pixels}-pixel limit") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadRequest(_CORRUPT) from exc
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"Image of {width}x{height} pixels exceeds the {max_pixels}-pixel limit"
        )
    return int(width * height)


async def read_image(state: ServerState, request: Request) -> tuple[bytes, ImageInfo]:
    """The uploaded bytes and what they are; 400 missing/unsupported/corrupt, 413 big, 503 busy."""
    data = await receive_image(request, state.settings.max_upload_bytes)
    max_pixels = state.settings.max_image_pixels
    try:
        pixels = image_pixels(data, max_pixels)
        info = await state.engine.run_decode(pixels, inspect, data, max_pixels)
    except TooManyPixelsError as exc:
        raise PayloadTooLarge(str(exc)) from exc
    except (UnsupportedImageError, CorruptImageError) as exc:
        raise BadRequest(str(exc)) from exc
    return data, info
