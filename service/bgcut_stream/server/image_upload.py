"""Read and check the multipart ``image`` field of upload requests."""

from __future__ import annotations

import asyncio

from fastapi import Request
from starlette.datastructures import UploadFile

from bgcut_stream.imaging.decode import ImageInfo, inspect
from bgcut_stream.imaging.exceptions import (
    CorruptImageError,
    TooManyPixelsError,
    UnsupportedImageError,
)
from bgcut_stream.server.exceptions import BadRequest, PayloadTooLarge
from bgcut_stream.server.state import ServerState

MULTIPART_SLACK = 64 * 1024


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Image exceeds the upload limit of {limit} bytes.")


def check_declared_size(request: Request, limit: int) -> None:
    """Refuse a body whose Content-Length is over the limit before reading it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        raise _too_large(limit)


async def read_image(state: ServerState, image: UploadFile | None) -> tuple[bytes, ImageInfo]:
    """The uploaded bytes and what they are; 400 for missing/unsupported/corrupt, 413 for big."""
    if image is None or not isinstance(image, UploadFile):
        raise BadRequest("Missing required field: image")
    limit = state.settings.max_upload_bytes
    data = await image.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    if not data:
        raise BadRequest("Empty image file.")
    try:
        info = await asyncio.to_thread(inspect, data, state.settings.max_image_pixels)
    except TooManyPixelsError as exc:
        raise PayloadTooLarge(str(exc)) from exc
    except (UnsupportedImageError, CorruptImageError) as exc:
        raise BadRequest(str(exc)) from exc
    return data, info
