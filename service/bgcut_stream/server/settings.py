"""Server settings from ``BGCUT_SERVER_*`` environment variables (or CLI flags)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServerSettings(BaseSettings):
    """Everything the self-hosted server can be told; defaults suit a laptop."""

    model_config = SettingsConfigDict(env_prefix="BGCUT_SERVER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".bgcut/server")
    public_url: str | None = Field(
        default=None, description="Base of returned file URLs; default: the request's own base URL."
    )
    keys: SecretStr = Field(
        default=SecretStr(""), description="Seed accounts: 'key:credits,key2:credits'."
    )
    keys_file: Path | None = Field(default=None, description="File of 'key:credits' lines.")
    presign_secret: SecretStr | None = Field(
        default=None,
        description="HMAC secret for signed_request tokens; default: generated once "
        "and kept in the data dir.",
    )
    presign_ttl_s: float = 300.0
    upload_ttl_s: float = 24 * 3600.0
    output_ttl_s: float = 3600.0
    max_upload_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 100_000_000
    rate_limit_per_s: float = 20.0
    rate_limit_burst: int = 40
    workers: int = 2
    max_queue: int = 16
    process_timeout_s: float = 120.0
    model_threads: int = 0
    ai_cut_initialize_credits: float = 1.0
    ai_cut_bucket: str = "backgroundcut-ai-cut"
    admin_token: SecretStr | None = Field(
        default=None, description="Enables /_admin/ (faults, expire uploads) with X-Admin-Token."
    )
    fault_latency_ms: float = 0.0
    fault_rates: str = Field(
        default="", description='JSON {"endpoint|*": {"503": 0.3}}: injected error probabilities.'
    )
    studio_key: SecretStr | None = Field(
        default=None, description="API key /studio/ mints presigned tokens with; enables /studio/."
    )
    cors_origins: str = Field(
        default="", description="Comma-separated origins allowed on presigned and AI Cut endpoints."
    )
    allowed_hosts: str = Field(
        default="localhost,127.0.0.1,::1",
        description="Host names file links may be built from when PUBLIC_URL is unset; a "
        "request whose Host is not listed gets 400 on link-building endpoints.",
    )
    decode_budget_pixels: int = Field(
        default=150_000_000,
        ge=1,
        description="Pixels decoded at once across uploads, process and segment calls "
        "(about 4-20 bytes each); a decode that does not fit is a 503 with Retry-After.",
    )
    max_connections: int = Field(
        default=512, ge=1, description="Open connections; past it new ones get 503."
    )
    max_requests: int = Field(
        default=128, ge=1, description="Requests in flight; past it 503 with Retry-After."
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="Time to send the request line and headers."
    )
    body_idle_timeout_s: float = Field(
        default=15.0, gt=0, description="Longest pause between two body chunks (408)."
    )
    body_timeout_s: float = Field(
        default=120.0, gt=0, description="Time to send the whole request body (408)."
    )
    keep_alive_timeout_s: float = Field(
        default=5.0, gt=0, description="Idle keep-alive connections are closed after this."
    )
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, description="Request line plus headers (h11 event size)."
    )
    retry_after_s: int = Field(default=2, ge=1, description="Retry-After of overload 503s.")

    @property
    def host_allow_list(self) -> frozenset[str]:
        """``allowed_hosts`` as lower-case host names (ports and IPv6 brackets dropped)."""
        return frozenset(
            h.strip().lower().strip("[]") for h in self.allowed_hosts.split(",") if h.strip()
        )
