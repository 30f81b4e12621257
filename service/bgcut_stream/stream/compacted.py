"""A key -> string table kept in a compacted Kafka topic, restored on start and tailed.

Two tables use it: upload reuse (image sha256 -> unique_filename, shared by every instance;
tombstones drop uploads that expired on the API side) and the done table (job_id -> outcome,
written inside the result transaction, read with read_committed) that keeps duplicate and
replayed jobs from reaching the API twice.
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
    Producer,
    TopicPartition,
)

from bgcut_stream.stream.topics import await_topic

log = structlog.get_logger(__name__)
RESTORE_BATCH = 1000
TOPIC_WAIT_S = 15.0  # a topic created a moment ago may not be served yet


class CompactedTable:
    """In-memory map backed by a compacted topic; ``start()`` blocks until restored."""

    def __init__(self, kafka_config: dict[str, Any], topic: str, producer: Producer | None) -> None:
        self.topic = topic
        self._producer = producer
        self._config = {
            **kafka_config,
            "group.id": f"bgcut-table-{time.time_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
        self._entries: dict[str, str] = {}
        self._lock = threading.Lock()
        self._restored = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tail, name=f"table-{topic}", daemon=True)
        self._error: BaseException | None = None

    def start(self, timeout_s: float = 60.0) -> int:
        """Restore the topic to its end and keep tailing it; returns the entry count."""
        self._thread.start()
        if not self._restored.wait(timeout_s):
            raise TimeoutError(f"table topic {self.topic} not restored in {timeout_s}s")
        if self._error is not None:
            raise self._error
        return len(self)

    def _tail(self) -> None:
        consumer = Consumer(self._config)
        try:
            topic_meta = await_topic(consumer, self.topic, TOPIC_WAIT_S)
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
                for msg in consumer.consume(num_messages=RESTORE_BATCH, timeout=0.2):
                    error = msg.error()
                    if error is None:
                        self._apply(msg.key(), msg.value())
                    elif error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(msg.partition())
                        if not pending:
                            self._restored.set()
        except BaseException as exc:  # surfaced to start() and logged
            self._error = exc
            log.exception("table_tail_failed", topic=self.topic)
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
                self._entries[key.decode()] = json.loads(value)["value"]

    @staticmethod
    def encode(value: str) -> bytes:
        """The record value stored for ``value``."""
        return json.dumps({"value": value, "at": time.time()}).encode()

    def get(self, key: str) -> str | None:
        """The value of ``key``, or None."""
        with self._lock:
            return self._entries.get(key)

    def remember(self, key: str, value: str) -> None:
        """Set ``key`` in memory only (the caller produces its record, e.g. in a transaction)."""
        with self._lock:
            self._entries[key] = value

    def put(self, key: str, value: str) -> None:
        """Set ``key`` locally at once and in the topic for the other instances."""
        self.remember(key, value)
        assert self._producer is not None
        self._producer.produce(self.topic, key=key, value=self.encode(value))

    def forget(self, key: str) -> None:
        """Drop ``key`` (a tombstone for compaction)."""
        with self._lock:
            self._entries.pop(key, None)
        assert self._producer is not None
        self._producer.produce(self.topic, key=key, value=None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def close(self) -> None:
        """Stop tailing."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
