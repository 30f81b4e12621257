"""Exception handlers: every error leaves as ``{"detail": "<one string>"}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bgcut_stream.server.exceptions import ApiError, BadRequest

log = structlog.get_logger(__name__)

_CONTEXT_FIELDS = ("body", "query", "form", "header", "path")
_ALIASES = {"greenDots": "greenDots", "redDots": "redDots"}


def describe_errors(errors: Sequence[Any]) -> str:
    """One line from pydantic errors: 'Missing required field: x' or 'a.0.b: message'."""
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in _CONTEXT_FIELDS]
        where = ".".join(loc)
        kind = error.get("type", "")
        if kind == "json_invalid":
            return "Malformed JSON body."
        if kind == "missing":
            parts.append(f"Missing required field: {where}")
            continue
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "Invalid request."


def bad_request_from(exc: ValidationError) -> BadRequest:
    """A 400 from a pydantic ValidationError raised outside FastAPI's own parsing."""
    return BadRequest(describe_errors(exc.errors()))


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe_errors(exc.errors())}, 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc.detail)}, exc.status_code, headers=dict(exc.headers or {})
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", path=request.url.path, error=repr(exc))
        return JSONResponse({"detail": "Internal server error."}, 500)
