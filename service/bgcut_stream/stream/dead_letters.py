"""Dead-letter records: the original key, value and headers plus ``bgcut.dlq.*`` headers."""

from __future__ import annotations

import time

from confluent_kafka import Message

DLQ_HEADER_PREFIX = "bgcut.dlq."


def dead_letter_headers(
    msg: Message, reason: str, status: int, detail: str, attempts: int
) -> list[tuple[str, bytes]]:
    """The original headers plus ``bgcut.dlq.*`` headers saying why and where from."""
    topic, partition, offset = str(msg.topic()), msg.partition(), msg.offset()
    extra = {
        "reason": reason,
        "status": str(status),
        "detail": detail,
        "original.topic": topic,
        "original.partition": str(partition),
        "original.offset": str(offset),
        "attempts": str(attempts),
        "timestamp": str(int(time.time() * 1000)),
    }
    original: list[tuple[str, bytes]] = []
    for header in msg.headers() or []:
        name, value = header[0], header[1]
        original.append((str(name), value if isinstance(value, bytes) else str(value).encode()))
    return original + [(DLQ_HEADER_PREFIX + k, v.encode()) for k, v in extra.items()]
