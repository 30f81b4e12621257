"""Client settings from ``BGCUT_API_*`` environment variables."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bgcut_stream.api.paths import DEFAULT_BASE_URL


class ClientSettings(BaseSettings):
    """Where the API is, the key, timeouts per phase, and the retry policy."""

    model_config = SettingsConfigDict(env_prefix="BGCUT_API_", extra="ignore")

    base_url: str = DEFAULT_BASE_URL
    api_key: SecretStr = SecretStr("")
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 120.0
    write_timeout_s: float = 60.0
    pool_timeout_s: float = 10.0
    max_connections: int = 32
    max_attempts: int = 5
    deadline_s: float = 300.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 20.0
    max_retry_after_s: float = 120.0
    max_download_bytes: int = 200 * 1024 * 1024
