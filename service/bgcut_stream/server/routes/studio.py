"""``/studio/``: a static page for AI Cut and export, and its token-minting backend.

``POST /studio/tokens`` stands in for what a user's own backend does: it holds the API key
(``BGCUT_SERVER_STUDIO_KEY``) and hands the page single-use presigned tokens, never the key.
A real backend would mint only for its own logged-in users; this stand-in mints only for a
browser holding the studio's session cookie: a signed, short-lived, HttpOnly, SameSite=Strict
cookie set when ``/studio/`` is served (so other sites cannot mint through a visitor's browser
and a bare ``curl`` has to load the page first), and it rate-limits per client address.
Everything here is off (404) unless a studio key is configured.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Cookie, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError

from bgcut_stream.api.credits import AUTOCROP_CREDITS, BASE_PROCESS_CREDITS
from bgcut_stream.api.models import MAX_VARIANTS, PresignOut, ProcessImageIn
from bgcut_stream.server.engine import AI_CUT_KIND
from bgcut_stream.server.errors import bad_request_from
from bgcut_stream.server.exceptions import BadRequest, NotFound, Unauthorized
from bgcut_stream.server.ledger import key_hash
from bgcut_stream.server.routes.common import State
from bgcut_stream.server.state import ServerState

router = APIRouter(prefix="/studio", tags=["Studio"], include_in_schema=False)
Kind = Literal["upload", "ai_cut_initialize", "process"]
PAGE = Path(__file__).resolve().parents[1] / "studio" / "index.html"
SESSION_COOKIE = "bgcut_studio"
SESSION_TTL_S = 1800
MAX_VARIANTS_CHARS = 8192
EXPIRED = "Studio session missing or expired: reload /studio/ to start a new one."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _cookie_key(state: ServerState) -> bytes:
    """HMAC key of session cookies, derived from the studio key (stable across replicas)."""
    studio_key = state.settings.studio_key
    if studio_key is None:
        raise NotFound("Not Found")
    return hashlib.sha256(
        b"bgcut-studio-session:" + studio_key.get_secret_value().encode()
    ).digest()


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def new_session_cookie(state: ServerState, now: float | None = None) -> str:
    """A signed ``{sid, exp}`` payload: opaque to the page, nothing key-derived in it."""
    exp = (time.time() if now is None else now) + SESSION_TTL_S
    payload = _b64(json.dumps({"sid": uuid.uuid4().hex, "exp": exp}).encode())
    return f"{payload}.{_sign(_cookie_key(state), payload)}"


def check_session_cookie(state: ServerState, cookie: str | None) -> None:
    """401 unless ``cookie`` is a live session cookie signed by this studio."""
    key = _cookie_key(state)
    payload, _, signature = (cookie or "").partition(".")
    expected = _sign(key, payload)
    if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise Unauthorized(EXPIRED)
    try:
        exp = float(
            json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise Unauthorized(EXPIRED) from exc
    if not exp > time.time():
        raise Unauthorized(EXPIRED)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/", response_class=HTMLResponse)
@router.get("/index.html", response_class=HTMLResponse)
async def studio_page(state: State, request: Request) -> HTMLResponse:
    """The page, with a fresh session cookie (the stand-in for the user's own login)."""
    cookie = new_session_cookie(state)
    response = HTMLResponse(PAGE.read_text(), headers={"Cache-Control": "no-store"})
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=SESSION_TTL_S,
        path="/studio",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


class StudioConfig(BaseModel):
    """What the page shows before anything is spent: prices and upload limits."""

    initialize_credits: float
    process_credits: float
    autocrop_credits: float
    segment_credits: float
    max_upload_bytes: int
    max_image_pixels: int
    formats: list[str]
    session_ttl_s: int


@router.get("/config")
async def studio_config(state: State) -> StudioConfig:
    """Prices (from the API's credit rules) and limits (from the server's settings)."""
    _cookie_key(state)
    return StudioConfig(
        initialize_credits=state.settings.ai_cut_initialize_credits,
        process_credits=BASE_PROCESS_CREDITS,
        autocrop_credits=AUTOCROP_CREDITS,
        segment_credits=0.0,
        max_upload_bytes=state.settings.max_upload_bytes,
        max_image_pixels=state.settings.max_image_pixels,
        formats=["image/png", "image/jpeg", "image/webp"],
        session_ttl_s=SESSION_TTL_S,
    )


def _process_body(unique_filename: str | None, variants: str | None) -> ProcessImageIn:
    if variants is not None and len(variants) > MAX_VARIANTS_CHARS:
        raise BadRequest(f"variants: longer than {MAX_VARIANTS_CHARS} characters")
    try:
        parsed = json.loads(variants) if variants else None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, huge ints, deep nesting
        raise BadRequest("variants: malformed JSON") from exc
    if parsed is not None and not (isinstance(parsed, list) and len(parsed) <= MAX_VARIANTS):
        raise BadRequest(f"variants: expected a JSON list of at most {MAX_VARIANTS} variants")
    try:
        return ProcessImageIn.model_validate(
            {"unique_filename": unique_filename, "output_variants": parsed}
        )
    except ValidationError as exc:
        raise bad_request_from(exc) from exc


@router.post("/tokens")
async def studio_token(  # noqa: PLR0917 - FastAPI parameters
    state: State,
    request: Request,
    kind: Annotated[Kind, Query()],
    unique_filename: Annotated[str | None, Query()] = None,
    variants: Annotated[str | None, Query()] = None,
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
) -> PresignOut:
    """Mint a presigned token for the studio page, charged to the studio key.

    ``process`` accepts an upload or an AI Cut session of the studio key (the session is cut
    with its refined mask: our extension of process-image, see the README).
    """
    check_session_cookie(state, session)
    state.limiter.acquire(f"studio:{_client(request)}")
    studio_key = state.settings.studio_key
    assert studio_key is not None  # checked by check_session_cookie
    hashed = key_hash(studio_key.get_secret_value())
    if kind != "process":
        return PresignOut(signed_request=state.presigner.mint(kind, hashed))
    body = _process_body(unique_filename, variants)
    try:
        state.uploads.get(body.unique_filename, "remove-bg", hashed)
    except NotFound:
        state.uploads.get(body.unique_filename, AI_CUT_KIND, hashed)
    return PresignOut(
        signed_request=state.presigner.mint("process", hashed, body.model_dump(mode="json"))
    )
