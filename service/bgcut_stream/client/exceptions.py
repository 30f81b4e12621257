"""Every error the client raises, in one tree.

    BgcutError
      ├── InvalidRequest          rejected before sending (no credit at risk)
      ├── TransportError          connect/read/write failure or timeout (retriable)
      ├── DownloadError           output URL too big, wrong type, checksum mismatch
      └── ApiStatusError          a non-2xx answer: status_code, detail, endpoint, request_id
            ├── BadRequest            400
            ├── Unauthorized          401
            ├── PaymentRequired       402  required, available
            ├── NotFound              404
            ├── PayloadTooLarge       413
            ├── RateLimited           429  retry_after (retriable)
            ├── ServerError           500 and other 5xx (retriable)
            ├── ServiceUnavailable    503 (retriable)
            └── GatewayTimeout        504 (retriable)

``map_exceptions()`` turns httpx's transport errors into ``TransportError`` (and its local
protocol errors, such as an illegal header value, into ``InvalidRequest``).
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


class BgcutError(Exception):
    """Base of every client error."""

    retriable = False


class InvalidRequest(BgcutError):
    """The request failed client-side validation and was never sent."""


class DownloadError(BgcutError):
    """An output could not be downloaded safely."""


class TransportError(BgcutError):
    """The request did not get an HTTP answer (network error or timeout)."""

    retriable = True

    def __init__(self, message: str, endpoint: str, request_id: str) -> None:
        super().__init__(f"{message} (endpoint={endpoint}, request_id={request_id})")
        self.endpoint = endpoint
        self.request_id = request_id


class ApiStatusError(BgcutError):
    """The API answered with an error status."""

    status_code = 0

    def __init__(self, status_code: int, detail: str, endpoint: str, request_id: str) -> None:
        super().__init__(f"{status_code} {detail} (endpoint={endpoint}, request_id={request_id})")
        self.status_code = status_code
        self.detail = detail
        self.endpoint = endpoint
        self.request_id = request_id


class BadRequest(ApiStatusError):
    """400: missing field, bad value, unsupported or corrupt image."""


class Unauthorized(ApiStatusError):
    """401: missing, malformed or revoked key, or a bad signed_request."""


class PaymentRequired(ApiStatusError):
    """402: not enough credits; ``required``/``available`` parsed from the detail."""

    _PATTERN = re.compile(r"Required:\s*([\d.]+),\s*available:\s*([\d.]+)")

    def __init__(self, status_code: int, detail: str, endpoint: str, request_id: str) -> None:
        super().__init__(status_code, detail, endpoint, request_id)
        match = self._PATTERN.search(detail)
        self.required = float(match.group(1)) if match else None
        self.available = float(match.group(2)) if match else None


class NotFound(ApiStatusError):
    """404: unique_filename unknown or expired."""


class PayloadTooLarge(ApiStatusError):
    """413: upload too large."""


class RateLimited(ApiStatusError):
    """429: slow down; ``retry_after`` seconds from the Retry-After header (None if absent)."""

    retriable = True

    def __init__(
        self,
        status_code: int,
        detail: str,
        endpoint: str,
        request_id: str,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status_code, detail, endpoint, request_id)
        self.retry_after = retry_after


class ServerError(ApiStatusError):
    """500 (and any other 5xx without its own class)."""

    retriable = True


class ServiceUnavailable(ApiStatusError):
    """503: overloaded, retry shortly."""

    retriable = True


class GatewayTimeout(ApiStatusError):
    """504: processing took too long."""

    retriable = True


_BY_STATUS: dict[int, type[ApiStatusError]] = {
    400: BadRequest,
    401: Unauthorized,
    402: PaymentRequired,
    404: NotFound,
    413: PayloadTooLarge,
    500: ServerError,
    503: ServiceUnavailable,
    504: GatewayTimeout,
}


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def error_for(response: httpx.Response, endpoint: str, request_id: str) -> ApiStatusError:
    """The exception for an error response, with its ``detail`` parsed from the JSON envelope."""
    try:
        body = response.json()
        detail = str(body.get("detail", response.text)) if isinstance(body, dict) else response.text
    except ValueError:
        detail = response.text or response.reason_phrase
    status = response.status_code
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RateLimited(status, detail, endpoint, request_id, retry_after)
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiStatusError)
    return cls(status, detail, endpoint, request_id)


@contextmanager
def map_exceptions(endpoint: str, request_id: str) -> Iterator[None]:
    """Re-raise httpx transport errors (timeouts included) as ``TransportError``."""
    try:
        yield
    except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as exc:
        raise InvalidRequest(f"{type(exc).__name__}: {exc} (endpoint={endpoint})") from exc
    except httpx.TransportError as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}", endpoint, request_id) from exc
