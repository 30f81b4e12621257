"""401 is not a job failure: pause, report not-ready, probe the key until it works again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from bgcut_stream.client.exceptions import BgcutError, Unauthorized

log = structlog.get_logger(__name__)


class AuthGate:
    """Jobs that hit 401 wait here; one of them probes with a free authenticated call."""

    def __init__(
        self,
        probe: Callable[[], Awaitable[object]],
        interval_s: float,
        on_change: Callable[[bool], None],
    ) -> None:
        self._probe = probe
        self.interval_s = interval_s
        self._on_change = on_change
        self._lock = asyncio.Lock()
        self._recovered_at = 0.0
        self.paused = False

    async def wait_until_authorized(self, failed_at: float, error: Unauthorized) -> None:
        """Return once the key works again (immediately if it recovered after ``failed_at``)."""
        async with self._lock:
            if self._recovered_at > failed_at:
                return
            if not self.paused:
                self.paused = True
                self._on_change(True)
                log.error(
                    "api_key_rejected",
                    detail=error.detail,
                    endpoint=error.endpoint,
                    action="consumption paused; fix BGCUT_API_KEY (or its Secret) - the key is "
                    f"re-checked every {self.interval_s:g}s and nothing is dead-lettered",
                )
            while True:
                await asyncio.sleep(self.interval_s)
                try:
                    await self._probe()
                except Unauthorized:
                    log.warning("api_key_still_rejected")
                    continue
                except BgcutError as exc:
                    log.warning("api_key_probe_failed", error=str(exc))
                    continue
                break
            self.paused = False
            self._recovered_at = time.monotonic()
            self._on_change(False)
            log.info("api_key_accepted", action="consumption resumed")
