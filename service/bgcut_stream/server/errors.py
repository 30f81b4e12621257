"""Exception handlers: every error leaves as ``{"detail": "<one string>"}``."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bgcut_stream.api.validation import describe, describe_errors
from bgcut_stream.server.exceptions import ApiError, BadRequest

log = structlog.get_logger(__name__)


def bad_request_from(exc: ValidationError) -> BadRequest:
    """A 400 from a pydantic ValidationError raised outside FastAPI's own parsing."""
    return BadRequest(describe(exc))


def _single(exc: BaseException) -> BaseException:
    """The one exception inside (nested) exception groups of one, else ``exc`` itself."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


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
        leaf = _single(exc)  # a middleware's task group may wrap an error raised by receive()
        if isinstance(leaf, ApiError):
            return await _api_error(request, leaf)
        if isinstance(leaf, StarletteHTTPException):
            return await _http(request, leaf)
        log.error("unhandled_error", path=request.url.path, error=repr(exc))
        return JSONResponse({"detail": "Internal server error."}, 500)
