"""Produce result events and dead-letter records, and know when Kafka has them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from bgcut_stream.events.codec import AvroCodec
from bgcut_stream.events.results import ImageResult
from bgcut_stream.stream.exceptions import JobFailure
from bgcut_stream.stream.partitions import coordinates

DLQ_HEADER_PREFIX = "bgcut.dlq."


def dead_letter_headers(
    msg: Message, reason: str, status: int, detail: str, attempts: int
) -> list[tuple[str, bytes]]:
    """The original headers plus ``bgcut.dlq.*`` headers saying why and where from."""
    topic, partition, offset = coordinates(msg)
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


class Publisher:
    """Produces with delivery reports turned into awaitable futures."""

    def __init__(self, producer: Producer, results_codec: AvroCodec, results_topic: str) -> None:
        self.producer = producer
        self.codec = results_codec
        self.results_topic = results_topic

    def _produce(self, topic: str, **kwargs: Any) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()

        def delivered(err: KafkaError | None, _: Message) -> None:
            if err is not None:
                future.set_exception(KafkaException(err))
            else:
                future.set_result(None)

        while True:
            try:
                self.producer.produce(topic, on_delivery=delivered, **kwargs)
            except BufferError:
                self.producer.poll(0.1)
            else:
                return future

    async def publish(
        self, result: ImageResult, msg: Message, failure: JobFailure | None, dlq_topic: str | None
    ) -> None:
        """Produce the result (and the dead-letter record) and wait until both are acked."""
        futures = [
            self._produce(
                self.results_topic,
                key=result.job_id.encode(),
                value=self.codec.encode(result.to_record()),
            )
        ]
        if failure is not None and dlq_topic is not None:
            futures.append(
                self._produce(
                    dlq_topic,
                    key=msg.key(),
                    value=msg.value(),
                    headers=dead_letter_headers(
                        msg, failure.reason, failure.code, failure.detail, failure.attempts
                    ),
                )
            )
        await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
