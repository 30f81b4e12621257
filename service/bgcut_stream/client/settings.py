"""Client settings from ``BGCUT_API_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bgcut_stream.api.paths import DEFAULT_BASE_URL


class ClientSettings(BaseSettings):
    """Where the API is, the key, timeouts per phase, and the retry policy."""

    model_config = SettingsConfigDict(env_prefix="BGCUT_API_", extra="ignore")

    base_url: str = DEFAULT_BASE_URL
    api_key: SecretStr = SecretStr("")
    api_key_file: Path | None = None  # a mounted Secret; re-read by current_api_key()
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
    download_hosts: str = "cdn.backgroundcut.co"  # output hosts besides base_url's (comma list)
    allow_private_downloads: bool = False  # let download_hosts resolve to private addresses
    # small outputs written on the event loop while file calls are fast (client/file_work.py);
    # false: always from worker threads (an artifact store on a network filesystem that can hang)
    file_writes_inline: bool = True

    @model_validator(mode="after")
    def _key_from_file(self) -> Self:
        if self.api_key_file is not None:
            self.api_key = self.current_api_key()
        return self

    def current_api_key(self) -> SecretStr:
        """The key now: re-read from ``api_key_file`` when set (rotation without a restart).

        An unreadable or empty file keeps the last key (a Secret being swapped is briefly
        absent); the first read at start-up fails with a one-line error instead.
        """
        if self.api_key_file is None:
            return self.api_key
        try:
            key = self.api_key_file.read_text().strip()
        except OSError as exc:
            if self.api_key.get_secret_value():
                return self.api_key
            raise ValueError(
                f"BGCUT_API_API_KEY_FILE {self.api_key_file}: {exc.strerror or exc}"
            ) from None
        if not key:
            if self.api_key.get_secret_value():
                return self.api_key
            raise ValueError(f"BGCUT_API_API_KEY_FILE {self.api_key_file} is empty")
        self.api_key = SecretStr(key)
        return self.api_key
