"""The pipeline bench's stranger upstream is what its row says: Confluent-framed, transactional.

``bench/upstreams.py`` publishes the jobs of the bench's "upstream" rows; if it quietly fell back
to plain records or non-transactional writes, those rows would measure our own producer again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bgcut_stream.events.jobs import ImageJob
from bgcut_stream.events.schemas import IMAGE_JOB, bundled
from tests.support.bench_modules import load as load_bench
from tests.support.kafka import consume_n, create_topics, unique_name
from tests.support.registry import RegistryEndpoint

JOBS = 25
PARTITIONS = 2


def test_the_stranger_upstream_writes_confluent_frames_in_transactions(
    kafka_bootstrap: str,
    registry: RegistryEndpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", registry.url)  # the session's, not a new one
    upstreams = load_bench("upstreams")
    topic = unique_name("bench-upstream")
    create_topics(kafka_bootstrap, topic, partitions=PARTITIONS)

    with upstreams.confluent_transactional(tmp_path) as stranger:
        assert stranger.env == {"BGCUT_SCHEMA_REGISTRY_URL": registry.url}
        stranger.publish(kafka_bootstrap, topic, JOBS, 1)

    records = [(m.partition(), m.value()) for m in consume_n(kafka_bootstrap, topic, JOBS)]
    assert len(records) == JOBS
    assert all(value[0] == 0 for _p, value in records)  # Confluent's magic byte + schema id
    deserializer = AvroDeserializer(
        registry.client(), bundled(IMAGE_JOB).text, return_record_name=True
    )
    context = SerializationContext(topic, MessageField.VALUE)
    ids = {ImageJob.from_record(deserializer(v, context)).job_id for _p, v in records}
    assert ids == {f"{topic}-{i}" for i in range(JOBS)}
    # each committed transaction left a control record in every partition it wrote: offsets the
    # service never receives (a plain producer's high watermark equals its record count)
    reader = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "watermarks"})
    for partition in range(PARTITIONS):
        count = sum(1 for p, _v in records if p == partition)
        _low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        assert count > 0
        assert high - count >= 1, (partition, count, high)
    reader.close()
