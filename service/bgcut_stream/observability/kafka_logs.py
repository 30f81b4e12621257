"""librdkafka's log lines as structlog events: one per distinct message, with a count.

confluent-kafka forwards librdkafka's logs to the ``logger`` of a client's config (see
``StreamSettings.kafka``) as ``logger.log(level, "%s [%s] %s", facility, client, message)``,
served from ``poll()``. With unreachable brokers librdkafka repeats the same ``FAIL`` line many
times a second; this handler emits the first occurrence at once and then at most one event per
``repeat_interval_s`` for the same message, carrying how many times it was seen.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

LOGGER_NAME = "librdkafka"
# "(after 12ms in state CONNECT, 3 identical error(s) suppressed)" varies between repeats.
_VARYING = re.compile(
    r"\s*\((?:after \d+ms in state \w+)?(?:, )?(?:\d+ identical error\(s\) suppressed)?\)"
)
_MAX_KEYS = 1000


@dataclass
class _Seen:
    level: int
    count: int
    reported: int
    last_emit: float


def normalize(message: str) -> str:
    """The message without the parts that change between repeats of the same error."""
    return _VARYING.sub("", message).strip()


class KafkaLogHandler(logging.Handler):
    """A logging handler for the ``librdkafka`` logger that deduplicates into structlog."""

    def __init__(
        self, repeat_interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.repeat_interval_s = repeat_interval_s
        self._clock = clock
        self._seen: dict[tuple[str, str], _Seen] = {}
        self._log = structlog.get_logger(LOGGER_NAME)

    def emit(self, record: logging.LogRecord) -> None:
        """Log the first occurrence of a message, then a counted repeat at most per interval."""
        args = record.args
        if isinstance(args, tuple) and len(args) == 3:
            facility, client, message = (str(a) for a in args)
        else:
            facility, client, message = "", "", record.getMessage()
        text = normalize(message)
        key = (facility, text)
        now = self._clock()
        seen = self._seen.get(key)
        if seen is None:
            if len(self._seen) >= _MAX_KEYS:
                self._seen.clear()
            seen = self._seen[key] = _Seen(level=record.levelno, count=0, reported=0, last_emit=now)
        seen.count += 1
        if seen.count > 1 and now - seen.last_emit < self.repeat_interval_s:
            return
        self._report(facility, client, text, seen, now)

    def _report(self, facility: str, client: str, text: str, seen: _Seen, now: float) -> None:
        self._log.log(
            seen.level,
            "kafka_client",
            facility=facility,
            client=client,
            message=text,
            count=seen.count,
        )
        seen.reported = seen.count
        seen.last_emit = now

    def flush(self) -> None:
        """Report every message seen again since it was last logged (at exit)."""
        now = self._clock()
        for (facility, text), seen in list(self._seen.items()):
            if seen.count > seen.reported:
                self._report(facility, "", text, seen, now)

    def counts(self) -> dict[str, int]:
        """Occurrences per distinct message (for tests and the exit summary)."""
        return {f"{f} {t}".strip(): s.count for (f, t), s in self._seen.items()}


def install(level: int) -> KafkaLogHandler:
    """Route the ``librdkafka`` logger to one deduplicating handler at ``level``."""
    logger = logging.getLogger(LOGGER_NAME)
    for old in list(logger.handlers):
        if isinstance(old, KafkaLogHandler):
            logger.removeHandler(old)
    handler = KafkaLogHandler()
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler
