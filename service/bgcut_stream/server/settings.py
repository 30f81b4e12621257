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
