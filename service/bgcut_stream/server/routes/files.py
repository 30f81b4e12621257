"""Temporary file URLs: uploaded inputs and generated outputs, 404 once expired."""

from __future__ import annotations

import re
import time

from fastapi import APIRouter
from fastapi.responses import FileResponse

from bgcut_stream.server.exceptions import NotFound
from bgcut_stream.server.routes.common import State

router = APIRouter(prefix="/files", tags=["Files"], include_in_schema=True)
_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")
_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
_GONE = "File not found or expired."
_MAX_NAME = 128  # longer than any name we write; the file system would refuse past 255


def _check(*parts: str) -> None:
    if not all(_SAFE.match(p) and p not in {".", ".."} and len(p) <= _MAX_NAME for p in parts):
        raise NotFound(_GONE)


def _media_type(name: str) -> str:
    return _TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")


@router.get("/outputs/{out_id}/{name}")
async def output_file(state: State, out_id: str, name: str) -> FileResponse:
    """A generated output; temporary."""
    _check(out_id, name)
    path = state.outputs.root / out_id / name
    if not state.outputs.is_live(path):
        raise NotFound(_GONE)
    return FileResponse(path, media_type=_media_type(name))


@router.get("/uploads/{unique_filename}/{name}")
async def input_file(state: State, unique_filename: str, name: str) -> FileResponse:
    """An uploaded original, while its upload lives."""
    _check(unique_filename, name)
    expires = state.uploads.expires_at(unique_filename)
    path = state.uploads.root / unique_filename / name
    if (
        expires is None
        or expires < time.time()
        or not name.startswith("input.")
        or not path.exists()
    ):
        raise NotFound(_GONE)
    return FileResponse(path, media_type=_media_type(name))
