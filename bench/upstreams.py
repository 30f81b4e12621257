"""How the pipeline bench's jobs reach their topic: our own producer, or one written elsewhere.

``PLAIN`` is how the bench has always published (schemaless Avro, one plain producer, no
transactions). ``confluent_transactional`` is an upstream the project never wrote: Confluent's
own ``AvroSerializer`` through a real Schema Registry (ours, Apicurio, unless
``SCHEMA_REGISTRY_URL`` names one), inside Kafka transactions of ``TX_JOBS`` jobs. Each commit
leaves a control record in every partition the transaction touched, so the service meets offsets
it never receives: the case that once stalled a partition while credits were being spent.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bgcut_stream.api.models import OutputVariant
from bgcut_stream.events.codec import AvroCodec
from bgcut_stream.events.jobs import ImageJob, UploadedSource
from bgcut_stream.events.schemas import IMAGE_JOB, IMAGE_RESULT, bundled
from bgcut_stream.localstack import free_port
from bgcut_stream.registry_local import LocalRegistry, RegistryConfig

JOB_CODEC = AvroCodec(bundled(IMAGE_JOB))
RESULT_CODEC = AvroCodec(bundled(IMAGE_RESULT))
VARIANTS = {
    1: [OutputVariant(variant_name="full")],
    3: [
        OutputVariant(variant_name="full"),
        OutputVariant(variant_name="thumb", format="webp"),
        OutputVariant(variant_name="white", format="jpg", background_color="#FFFFFF"),
    ],
}
TX_JOBS = 10  # jobs per upstream transaction: a control record per ~1.2 jobs in each partition


def job(topic: str, i: int, variants: int) -> ImageJob:
    """The bench's i-th reprocess job on ``topic`` (its own key)."""
    return ImageJob(
        job_id=f"{topic}-{i}", source=UploadedSource("u-1"), output_variants=VARIANTS[variants]
    )


@dataclass(frozen=True)
class Upstream:
    """A way of publishing jobs, the decoder of the results it leads to, and the service's env."""

    name: str
    publish: Callable[[str, str, int, int], float]  # (bootstrap, topic, count, variants) -> s
    decode: Callable[[str, bytes], dict[str, Any]]  # (results topic, value) -> record
    env: Mapping[str, str] = field(default_factory=dict)


def publish_plain(bootstrap: str, topic: str, count: int, variants: int) -> float:
    """Publish ``count`` reprocess jobs, schemaless Avro; returns the seconds it took."""
    start = time.monotonic()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for i in range(count):
        record = job(topic, i, variants)
        producer.produce(
            topic, key=record.job_id.encode(), value=JOB_CODEC.encode(record.to_record())
        )
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(60)
    return time.monotonic() - start


PLAIN = Upstream("ours: schemaless Avro", publish_plain, lambda _t, v: RESULT_CODEC.decode(v))


@contextmanager
def confluent_transactional(work: Path) -> Iterator[Upstream]:
    """An upstream writing with Confluent's serializer through a registry, in transactions."""
    url = os.environ.get("SCHEMA_REGISTRY_URL")
    registry = None
    if not url:
        registry = LocalRegistry(RegistryConfig(state_dir=work / "registry", port=free_port()))
        url = registry.up()
    client = SchemaRegistryClient({"url": url})
    serializer = AvroSerializer(client, bundled(IMAGE_JOB).text)
    deserializer = AvroDeserializer(client, bundled(IMAGE_RESULT).text, return_record_name=True)

    def publish(bootstrap: str, topic: str, count: int, variants: int) -> float:
        start = time.monotonic()
        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "transactional.id": f"bench-upstream-{uuid.uuid4().hex[:8]}",
                "linger.ms": 5,
            }
        )
        producer.init_transactions(30)
        context = SerializationContext(topic, MessageField.VALUE)
        for first in range(0, count, TX_JOBS):
            producer.begin_transaction()
            for i in range(first, min(count, first + TX_JOBS)):
                record = job(topic, i, variants)
                value = serializer(record.to_record(), context)
                producer.produce(topic, key=record.job_id.encode(), value=value)
            producer.commit_transaction(30)
        return time.monotonic() - start

    def decode(results_topic: str, value: bytes) -> dict[str, Any]:
        record = deserializer(value, SerializationContext(results_topic, MessageField.VALUE))
        assert isinstance(record, dict)
        return record

    try:
        yield Upstream(
            f"Confluent AvroSerializer + registry, transactions of {TX_JOBS}",
            publish,
            decode,
            {"BGCUT_SCHEMA_REGISTRY_URL": url},
        )
    finally:
        if registry is not None:
            registry.down()
