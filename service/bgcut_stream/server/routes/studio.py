"""``/studio/``: a static page for presigned uploads and AI Cut, and its token-minting backend.

``POST /studio/tokens`` is the example of what a user's own backend does: it holds the API key
(``BGCUT_SERVER_STUDIO_KEY``) and hands the page single-use presigned tokens, never the key.
Both are off unless a studio key is configured.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import ValidationError

from bgcut_stream.api.models import PresignOut, ProcessImageIn
from bgcut_stream.server.errors import bad_request_from
from bgcut_stream.server.exceptions import BadRequest, NotFound
from bgcut_stream.server.ledger import key_hash
from bgcut_stream.server.routes.common import State

router = APIRouter(prefix="/studio", tags=["Studio"], include_in_schema=False)
Kind = Literal["upload", "ai_cut_initialize", "process"]


@router.post("/tokens")
async def studio_token(
    state: State,
    kind: Annotated[Kind, Query()],
    unique_filename: Annotated[str | None, Query()] = None,
    variants: Annotated[str | None, Query()] = None,
) -> PresignOut:
    """Mint a presigned token for the studio page, charged to the studio key."""
    studio_key = state.settings.studio_key
    if studio_key is None:
        raise NotFound("Not Found")
    hashed = key_hash(studio_key.get_secret_value())
    state.limiter.acquire(f"studio:{hashed}")
    if kind != "process":
        return PresignOut(signed_request=state.presigner.mint(kind, hashed))
    try:
        body = ProcessImageIn.model_validate(
            {
                "unique_filename": unique_filename,
                "output_variants": json.loads(variants) if variants else None,
            }
        )
    except json.JSONDecodeError as exc:
        raise BadRequest("variants: malformed JSON") from exc
    except ValidationError as exc:
        raise bad_request_from(exc) from exc
    state.uploads.get(body.unique_filename, "remove-bg", hashed)
    return PresignOut(
        signed_request=state.presigner.mint("process", hashed, body.model_dump(mode="json"))
    )
