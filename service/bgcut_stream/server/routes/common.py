"""Dependencies shared by the route modules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, File, Request, UploadFile

from bgcut_stream.api.models import ErrorOut
from bgcut_stream.server.exceptions import BadRequest
from bgcut_stream.server.image_upload import check_declared_size
from bgcut_stream.server.presign import SignedGrant
from bgcut_stream.server.state import ServerState, state_of

State = Annotated[ServerState, Depends(state_of)]
ImageField = Annotated[UploadFile | None, File(description="PNG, JPG, JPEG or WebP.")]
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 402, 404, 413, 429, 500, 503, 504)
}


def require_json(request: Request) -> None:
    """The reference says the JSON endpoints need ``Content-Type: application/json``."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest("Content-Type must be application/json.")


def require_multipart(request: Request) -> None:
    """Upload endpoints take multipart/form-data; oversized bodies are refused unread."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "multipart/form-data":
        raise BadRequest("Content-Type must be multipart/form-data with an 'image' file field.")
    check_declared_size(request, state_of(request).settings.max_upload_bytes)


def api_key(request: Request) -> str:
    """The hashed API key of an authenticated request."""
    return state_of(request).authenticate(request)


ApiKey = Annotated[str, Depends(api_key)]
JsonBody = Depends(require_json)
Multipart = Depends(require_multipart)


def redeem(state: ServerState, token: str | None, operation: str) -> SignedGrant:
    """Verify a signed_request for ``operation`` and mark it spent (400/401 otherwise)."""
    if not token:
        raise BadRequest("Missing required field: signed_request")
    grant = state.presigner.verify(token, operation)
    state.presigner.claim(grant)
    return grant
