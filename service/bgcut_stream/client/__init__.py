"""Async client for BackgroundCut API v3 (the hosted API or our self-hosted server)."""

from bgcut_stream.client.client import AttemptInfo, BackgroundCutClient
from bgcut_stream.client.download import DownloadResult
from bgcut_stream.client.exceptions import (
    ApiStatusError,
    BadRequest,
    BgcutError,
    DownloadError,
    GatewayTimeout,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PaymentRequired,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
)
from bgcut_stream.client.segment import AiCutSession
from bgcut_stream.client.settings import ClientSettings

__all__ = [
    "AiCutSession",
    "ApiStatusError",
    "AttemptInfo",
    "BackgroundCutClient",
    "BadRequest",
    "BgcutError",
    "ClientSettings",
    "DownloadError",
    "DownloadResult",
    "GatewayTimeout",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "PaymentRequired",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "TransportError",
    "Unauthorized",
]
