"""Background removal: upload, process, and their presign/presigned twins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from bgcut_stream.api import paths
from bgcut_stream.api.credits import process_cost
from bgcut_stream.api.models import (
    PresignOut,
    ProcessImageIn,
    ProcessImageOut,
    SignedRequestIn,
    UploadImageOut,
)
from bgcut_stream.server.engine import AI_CUT_KIND
from bgcut_stream.server.errors import bad_request_from
from bgcut_stream.server.exceptions import NotFound
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
from bgcut_stream.server.storage import Upload

KIND = "remove-bg"
router = APIRouter(tags=["Background Removal"], responses=ERROR_RESPONSES)


async def _upload(state: ServerState, request: Request, key_hash: str) -> UploadImageOut:
    data, info = await read_image(state, request)
    upload = state.uploads.save(data, info, KIND, key_hash)
    return UploadImageOut(unique_filename=upload.unique_filename)


def _process_target(state: ServerState, unique_filename: str, key_hash: str) -> Upload:
    """The upload to process: a remove-bg upload, or an AI Cut session of the same key.

    The session is cut with its refined mask: our extension, see the README.
    """
    try:
        return state.uploads.get(unique_filename, KIND, key_hash)
    except NotFound:
        return state.uploads.get(unique_filename, AI_CUT_KIND, key_hash)


async def _process(
    state: ServerState, request: Request, key_hash: str, body: ProcessImageIn
) -> ProcessImageOut:
    upload = _process_target(state, body.unique_filename, key_hash)
    variants = body.variants
    cost = process_cost(variants)
    state.ledger.charge(key_hash, cost)
    out_id, folder = state.outputs.new_folder()
    try:
        outputs = await state.engine.run(state.engine.process, upload, variants, folder)
    except BaseException:
        state.ledger.add(key_hash, cost)
        raise
    state.metrics.credits.inc(cost)
    base = state.base_url(request)
    return ProcessImageOut(
        unique_filename=upload.unique_filename,
        input_url=f"{base}/files/{upload.relative_input}",
        output_urls={o.name: f"{base}/files/outputs/{out_id}/{o.path.name}" for o in outputs},
    )


@router.post(paths.UPLOAD, dependencies=[Multipart], openapi_extra=UPLOAD_OPENAPI)
async def upload_image(state: State, request: Request, key_hash: ApiKey) -> UploadImageOut:
    """Upload an image; returns the unique_filename to process it with."""
    return await _upload(state, request, key_hash)


@router.post(paths.UPLOAD_PRESIGN)
async def upload_image_presign(state: State, key_hash: ApiKey) -> PresignOut:
    """Mint a single-use token for one upload charged to this key."""
    return PresignOut(signed_request=state.presigner.mint("upload", key_hash))


@router.post(paths.UPLOAD_PRESIGNED, dependencies=[Multipart], openapi_extra=UPLOAD_OPENAPI)
async def upload_image_presigned(
    state: State, request: Request, signed_request: Annotated[str | None, Query()] = None
) -> UploadImageOut:
    """Upload with a presigned token instead of an Authorization header (spent on first use)."""
    grant = redeem(state, signed_request, "upload")
    return await _upload(state, request, grant.key_hash)


@router.post(paths.PROCESS, dependencies=[JsonBody])
async def process_image(
    state: State, request: Request, key_hash: ApiKey, body: ProcessImageIn
) -> ProcessImageOut:
    """Remove the background of an uploaded image and render every output variant."""
    return await _process(state, request, key_hash, body)


@router.post(paths.PROCESS_PRESIGN, dependencies=[JsonBody])
async def process_image_presign(state: State, key_hash: ApiKey, body: ProcessImageIn) -> PresignOut:
    """Mint a single-use token with this process request (variants included) baked in."""
    _process_target(state, body.unique_filename, key_hash)
    token = state.presigner.mint("process", key_hash, body.model_dump(mode="json"))
    return PresignOut(signed_request=token)


@router.post(paths.PROCESS_PRESIGNED, dependencies=[JsonBody])
async def process_image_presigned(
    state: State, request: Request, body: SignedRequestIn
) -> ProcessImageOut:
    """Run the process request baked into a presigned token, charged to the key that minted it."""
    grant = redeem(state, body.signed_request, "process")  # spent even if the call fails
    try:
        baked = ProcessImageIn.model_validate(grant.body)
    except ValidationError as exc:
        raise bad_request_from(exc) from exc
    return await _process(state, request, grant.key_hash, baked)
