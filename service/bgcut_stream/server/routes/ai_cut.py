"""AI Cut: initialize a session (and its presign/presigned twins), then free segment calls."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request

from bgcut_stream.api import paths
from bgcut_stream.api.models import AiCutInitializeOut, Dot, PresignOut, SegmentIn, SegmentOut
from bgcut_stream.imaging.interactive import Point
from bgcut_stream.server.exceptions import BadRequest
from bgcut_stream.server.image_upload import UPLOAD_OPENAPI, read_image
from bgcut_stream.server.routes.common import (
    ERROR_RESPONSES,
    ApiKey,
    JsonBody,
    Multipart,
    State,
    redeem,
)
from bgcut_stream.server.state import ServerState

KIND = "ai-cut"
MAX_REQUEST_NUMBER = 2**63 - 1  # it names the output file; a 250-digit one would not fit
router = APIRouter(tags=["AI Cut"], responses=ERROR_RESPONSES)


async def _initialize(state: ServerState, request: Request, key_hash: str) -> AiCutInitializeOut:
    data, info = await read_image(state, request)
    credits = state.settings.ai_cut_initialize_credits
    state.ledger.charge(key_hash, credits)
    try:
        upload = state.uploads.save(data, info, KIND, key_hash)
    except BaseException:
        state.ledger.add(key_hash, credits)
        raise
    state.metrics.credits.inc(credits)
    return AiCutInitializeOut(
        unique_filename=upload.unique_filename,
        s3_path=upload.relative_input,
        bucket=state.settings.ai_cut_bucket,
    )


def _points(dots: list[Dot], field: str, width: int, height: int) -> list[Point]:
    for i, dot in enumerate(dots):
        if dot.x >= width or dot.y >= height:
            raise BadRequest(
                f"{field}.{i}: ({dot.x}, {dot.y}) is outside the {width}x{height} image"
            )
    return [Point(d.x, d.y) for d in dots]


@router.post(paths.AI_CUT_INITIALIZE, dependencies=[Multipart], openapi_extra=UPLOAD_OPENAPI)
async def ai_cut_initialize(state: State, request: Request, key_hash: ApiKey) -> AiCutInitializeOut:
    """Upload an image and start an AI Cut session."""
    return await _initialize(state, request, key_hash)


@router.post(paths.AI_CUT_INITIALIZE_PRESIGN)
async def ai_cut_initialize_presign(state: State, key_hash: ApiKey) -> PresignOut:
    """Mint a single-use token for one AI Cut initialize charged to this key."""
    return PresignOut(signed_request=state.presigner.mint("ai_cut_initialize", key_hash))


@router.post(
    paths.AI_CUT_INITIALIZE_PRESIGNED, dependencies=[Multipart], openapi_extra=UPLOAD_OPENAPI
)
async def ai_cut_initialize_presigned(
    state: State, request: Request, signed_request: Annotated[str | None, Query()] = None
) -> AiCutInitializeOut:
    """Initialize with a presigned token instead of an Authorization header (spent on first use)."""
    grant = redeem(state, signed_request, "ai_cut_initialize")
    return await _initialize(state, request, grant.key_hash)


@router.post(paths.AI_CUT_SEGMENT, dependencies=[JsonBody])
async def ai_cut_segment(state: State, request: Request, body: SegmentIn) -> SegmentOut:
    """Segment from the accumulated green (keep) and red (remove) dots; free, no auth."""
    client = request.client.host if request.client else "unknown"
    if body.request_number > MAX_REQUEST_NUMBER:
        raise BadRequest(f"request_number: must be at most {MAX_REQUEST_NUMBER}")
    state.limiter.acquire(f"segment:{body.unique_filename}:{client}")
    upload = state.uploads.get(body.unique_filename, KIND)
    green = _points(body.green_dots, "greenDots", upload.width, upload.height)
    red = _points(body.red_dots, "redDots", upload.width, upload.height)
    out_id, folder = state.outputs.new_folder()
    path = folder / f"segment-{body.request_number}.png"
    await state.engine.run(state.engine.segment, upload, green, red, path, body.request_number)
    return SegmentOut(
        status="completed",
        unique_filename=upload.unique_filename,
        request_number=body.request_number,
        output_url=f"{state.base_url(request)}/files/outputs/{out_id}/{path.name}",
        message="Segmentation successful",
        timestamp=time.time(),
    )
