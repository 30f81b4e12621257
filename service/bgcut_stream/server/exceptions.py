"""Errors the server answers with; each becomes ``{"detail": ...}`` with its status code.

ApiError (any status)
├── BadRequest 400
├── Unauthorized 401
├── PaymentRequired 402
├── NotFound 404
├── PayloadTooLarge 413
├── RequestTimeout 408 (Connection: close)
├── TooManyRequests 429 (Retry-After)
├── ServiceUnavailable 503 (Retry-After)
└── GatewayTimeout 504
"""

from __future__ import annotations

import math


class ApiError(Exception):
    """An error response: status code, detail string and extra headers."""

    status_code = 500

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class BadRequest(ApiError):
    """400: missing field, bad value, unsupported or corrupt image, malformed JSON."""

    status_code = 400


class Unauthorized(ApiError):
    """401: missing, malformed or unknown key; invalid, expired or reused signed_request."""

    status_code = 401


class PaymentRequired(ApiError):
    """402: the key's balance does not cover the request."""

    status_code = 402

    def __init__(self, required: float, available: float) -> None:
        super().__init__(f"Insufficient credits. Required: {required}, available: {available}")


class NotFound(ApiError):
    """404: unknown or expired unique_filename or file."""

    status_code = 404


class PayloadTooLarge(ApiError):
    """413: upload over the size limit, or too many pixels (decompression bomb)."""

    status_code = 413


class TooManyRequests(ApiError):
    """429: the key's token bucket is empty; Retry-After says when to come back."""

    status_code = 429

    def __init__(self, retry_after_s: float) -> None:
        seconds = max(1, math.ceil(retry_after_s))
        super().__init__(
            f"Rate limit exceeded. Retry after {seconds} s", headers={"Retry-After": str(seconds)}
        )


class RequestTimeout(ApiError):
    """408: the client did not send the request body in time; the connection is closed."""

    status_code = 408

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Connection": "close"})


class ServiceUnavailable(ApiError):
    """503: the queue, the decode budget or the connection cap is full; Retry-After is set."""

    status_code = 503

    def __init__(self, detail: str, retry_after_s: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_s))})


class GatewayTimeout(ApiError):
    """504: processing took longer than the configured limit."""

    status_code = 504
