"""Upload reuse: image sha256 -> unique_filename, kept in a compacted Kafka topic.

Every instance restores the topic on start and keeps tailing it, so an upload made by one
instance is reused by all. Tombstones remove entries whose upload expired on the API side.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

log = structlog.get_logger(__name__)


class UploadCache:
    """In-memory map backed by a compacted topic; ``start()`` blocks until restored."""

    def __init__(self, kafka_config: dict[str, Any], topic: str, producer: Producer) -> None:
        self.topic = topic
        self._producer = producer
        self._config = {
            **kafka_config,
            "group.id": f"bgcut-upload-cache-{time.time_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
        self._entries: dict[str, str] = {}
        self._lock = threading.Lock()
        self._restored = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tail, name="upload-cache", daemon=True)
        self._error: BaseException | None = None

    def start(self, timeout_s: float = 60.0) -> int:
        """Restore the topic to its end and keep tailing it; returns the entry count."""
        self._thread.start()
        if not self._restored.wait(timeout_s):
            raise TimeoutError(f"upload cache topic {self.topic} not restored in {timeout_s}s")
        if self._error is not None:
            raise self._error
        return len(self)

    def _tail(self) -> None:
        consumer = Consumer(self._config)
        try:
            meta = consumer.list_topics(self.topic, timeout=30)
            topic_meta = meta.topics.get(self.topic)
            if topic_meta is None or topic_meta.error is not None:
                raise KafkaException(f"upload cache topic {self.topic} is missing")
            partitions = [
                TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in topic_meta.partitions
            ]
            consumer.assign(partitions)
            pending = {
                p.partition
                for p in partitions
                if consumer.get_watermark_offsets(p, timeout=10)[1] > 0
            }
            if not pending:
                self._restored.set()
            while not self._stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(msg.partition())
                        if not pending:
                            self._restored.set()
                    continue
                self._apply(msg.key(), msg.value())
        except BaseException as exc:  # surfaced to start() and logged
            self._error = exc
            log.exception("upload_cache_failed", topic=self.topic)
            self._restored.set()
        finally:
            consumer.close()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        with self._lock:
            if value is None:
                self._entries.pop(key.decode(), None)
            else:
                self._entries[key.decode()] = json.loads(value)["unique_filename"]

    def get(self, content_sha256: str) -> str | None:
        """The unique_filename of an earlier upload of the same bytes."""
        with self._lock:
            return self._entries.get(content_sha256)

    def put(self, content_sha256: str, unique_filename: str) -> None:
        """Remember an upload (locally at once, and in the topic for the other instances)."""
        with self._lock:
            self._entries[content_sha256] = unique_filename
        value = json.dumps({"unique_filename": unique_filename, "uploaded_at": time.time()})
        self._producer.produce(self.topic, key=content_sha256, value=value)

    def forget(self, content_sha256: str) -> None:
        """Drop an entry whose upload expired (a tombstone for compaction)."""
        with self._lock:
            self._entries.pop(content_sha256, None)
        self._producer.produce(self.topic, key=content_sha256, value=None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def close(self) -> None:
        """Stop tailing."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
