"""Avro through a real Schema Registry (Apicurio, Confluent API), a real broker and our server.

Producers and readers are Confluent's own ``AvroSerializer``/``AvroDeserializer``, as upstream
teams run them. Tests marked ``needs_wiring`` drive the stream service through behaviour that
exists only once ``stream/service.py`` builds its codecs with ``events.registry.build_codecs``
(and handles ``RegistryUnavailableError`` by retrying/pausing); until then they are skipped.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from pydantic import SecretStr

import bgcut_stream.stream.service as service_module
from bgcut_stream.events.exceptions import (
    EventError,
    RegistryAuthError,
    RegistryUnavailableError,
    UndecodableEventError,
)
from bgcut_stream.events.jobs import ImageJob, InlineSource
from bgcut_stream.events.registry import build_codecs
from bgcut_stream.events.results import ImageResult
from bgcut_stream.events.schemas import IMAGE_JOB, bundled
from bgcut_stream.kafka_local.broker import free_port
from bgcut_stream.stream.settings import StreamSettings
from tests.support.images import encode
from tests.support.kafka import consume_n, unique_name
from tests.support.registry import (
    ConfluentJobProducer,
    RegistryEndpoint,
    job_schema_v2_optional_field,
    job_schema_without_job_id,
    local_registry,
    results_deserializer,
    schema_registry,
)
from tests.support.server import RunningServer
from tests.support.stream import StreamHarness

pytestmark = pytest.mark.integration

WIRED = "build_codecs" in Path(service_module.__file__).read_text()
needs_wiring = pytest.mark.skipif(
    not WIRED,
    reason="waits for stream/service.py to build its codecs with events.registry.build_codecs",
)
USER_INFO = "bgcut-test:correct horse battery"


def tiny(seed: int) -> bytes:
    """A small distinct PNG."""
    rng = np.random.default_rng(seed)
    image = np.full((40, 56, 3), 200, np.uint8)
    image[10:30, 16:40] = rng.integers(0, 255, 3, dtype=np.uint8)
    return encode(image)


def job_record(job_id: str, seed: int) -> dict[str, object]:
    return ImageJob(job_id=job_id, source=InlineSource(tiny(seed), "x.png")).to_record()


def read_results(
    harness: StreamHarness, registry: RegistryEndpoint, count: int
) -> dict[str, ImageResult]:
    """``count`` results read back with Confluent's AvroDeserializer through the registry."""
    topic = harness.settings.results_topic
    messages = consume_n(harness.bootstrap, topic, count, timeout_s=90)
    assert len(messages) >= count, f"only {len(messages)} of {count} results arrived"
    deserializer = results_deserializer(registry)
    context = SerializationContext(topic, MessageField.VALUE)
    results = [ImageResult.from_record(deserializer(m.value(), context)) for m in messages]
    return {r.job_id: r for r in results}


@pytest.fixture
def harness(
    kafka_bootstrap: str, server: RunningServer, registry: RegistryEndpoint, tmp_path: Path
) -> StreamHarness:
    """Unique topics, the service pointed at the session registry and a fresh server."""
    return StreamHarness(
        kafka_bootstrap, server.url, tmp_path / "artifacts", overrides=registry.settings()
    )


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryEndpoint]:
    """A registry that requires HTTP basic auth."""
    with schema_registry(tmp_path_factory.mktemp("auth-registry"), USER_INFO) as endpoint:
        yield endpoint


def test_confluent_v1_jobs_are_processed_and_results_read_through_the_registry(
    harness: StreamHarness, registry: RegistryEndpoint
) -> None:
    """Jobs from AvroSerializer(v1) succeed; results are Confluent-framed, read by id."""
    producer = ConfluentJobProducer(
        registry, harness.bootstrap, harness.settings.jobs_topic, bundled(IMAGE_JOB).text
    )
    producer.send(job_record("v1-a", 1))
    producer.send(job_record("v1-b", 2))
    with harness.running():
        results = read_results(harness, registry, 2)
    assert {r.job_id: r.status for r in results.values()} == {
        "v1-a": "SUCCEEDED",
        "v1-b": "SUCCEEDED",
    }
    subject = f"{harness.settings.results_topic}-value"
    assert subject in registry.client().get_subjects()


def test_v2_with_an_optional_field_is_processed_by_a_v1_service(
    harness: StreamHarness, registry: RegistryEndpoint
) -> None:
    """Under BACKWARD, v2 (+ optional priority) registers; a service that knows v1 reads it."""
    jobs_topic = harness.settings.jobs_topic
    client = registry.client()
    client.set_compatibility(f"{jobs_topic}-value", "BACKWARD")
    v1 = ConfluentJobProducer(registry, harness.bootstrap, jobs_topic, bundled(IMAGE_JOB).text)
    v1.send(job_record("old-producer", 3))
    v2 = ConfluentJobProducer(
        registry, harness.bootstrap, jobs_topic, job_schema_v2_optional_field()
    )
    v2.send({**job_record("new-producer", 4), "priority": 9})
    versions = client.get_versions(f"{jobs_topic}-value")
    assert len(versions) == 2
    with harness.running():
        results = read_results(harness, registry, 2)
    assert results["old-producer"].status == "SUCCEEDED"
    assert results["new-producer"].status == "SUCCEEDED"
    # The service's own codec resolves the v2 writer to its v1 reader: priority is dropped.
    jobs_codec, _ = build_codecs(harness.settings)
    decoded = jobs_codec.decode(v2.encode({**job_record("again", 5), "priority": 1}))
    assert decoded["job_id"] == "again"
    assert "priority" not in decoded


def test_v2_removing_a_required_field_is_refused_by_the_registry(
    registry: RegistryEndpoint, kafka_bootstrap: str
) -> None:
    """Under FULL, dropping the required job_id is refused at the producer (409, named field).

    BACKWARD alone would accept it (a v2 reader can ignore job_id); the service is an *old*
    reader of new data, which is what FORWARD/FULL check, so the README recommends FULL.
    """
    topic = unique_name("evolve.jobs")
    registry.client().set_compatibility(f"{topic}-value", "FULL")
    v1 = ConfluentJobProducer(registry, kafka_bootstrap, topic, bundled(IMAGE_JOB).text)
    v1.encode(job_record("first", 6))
    bad = ConfluentJobProducer(registry, kafka_bootstrap, topic, job_schema_without_job_id())
    record = job_record("dropped", 7)
    del record["job_id"]
    with pytest.raises(SchemaRegistryError) as info:
        bad.encode(record)
    print(f"registry refused the v2 producer: {info.value}")
    assert info.value.http_status_code == 409
    assert "job_id" in str(info.value)


def test_registry_down_at_start_is_one_actionable_line() -> None:
    """No registry on the URL: RegistryUnavailableError (not an EventError), one line."""
    url = f"http://127.0.0.1:{free_port()}/apis/ccompat/v7"
    with pytest.raises(RegistryUnavailableError) as info:
        build_codecs(StreamSettings(schema_registry_url=url))
    message = str(info.value)
    assert not isinstance(info.value, EventError)
    assert "\n" not in message
    assert url in message
    assert "unreachable" in message
    assert "bgcut-stream registry up" in message


def test_unknown_schema_id_is_invalid_and_names_the_id(
    harness: StreamHarness, registry: RegistryEndpoint
) -> None:
    """A Confluent frame whose id the registry never issued: EventError, dead-lettered as such."""
    unknown_id = 987_654
    value = b"\x00" + unknown_id.to_bytes(4, "big") + b"\x02"
    jobs_codec, _ = build_codecs(harness.settings)
    with pytest.raises(UndecodableEventError, match=f"schema id {unknown_id} is not known"):
        jobs_codec.decode(value)
    harness.publish_raw(value, key="ghost-schema")
    with harness.running():
        dead = consume_n(harness.bootstrap, harness.settings.dlq_topic("invalid"), 1, timeout_s=60)
    assert len(dead) == 1
    detail = dict(dead[0].headers() or [])["bgcut.dlq.detail"].decode()
    assert f"schema id {unknown_id}" in detail


def test_registry_down_during_run_is_retriable_and_cached_ids_keep_working(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """Registry stopped: known ids still decode (cached), a new id raises RegistryUnavailable-
    Error (retry, not invalid); after a restart the same record decodes."""
    own = local_registry(tmp_path / "registry")
    url = own.up()
    try:
        endpoint = RegistryEndpoint(url)
        topic = unique_name("outage.jobs")
        settings = StreamSettings(schema_registry_url=url, jobs_topic=topic)
        jobs_codec, results_codec = build_codecs(settings)
        v1 = ConfluentJobProducer(endpoint, kafka_bootstrap, topic, bundled(IMAGE_JOB).text)
        v2 = ConfluentJobProducer(endpoint, kafka_bootstrap, topic, job_schema_v2_optional_field())
        seen = v1.encode(job_record("seen", 8))
        assert jobs_codec.decode(seen)["job_id"] == "seen"
        result = ImageResult(job_id="seen", status="SUCCEEDED").to_record()
        results_codec.encode(result)  # registers the results schema, id now cached
        unseen = v2.encode({**job_record("unseen", 9), "priority": 2})
        own.down()
        assert jobs_codec.decode(seen)["job_id"] == "seen"
        assert results_codec.encode(result)[:1] == b"\x00"
        with pytest.raises(RegistryUnavailableError) as info:
            jobs_codec.decode(unseen)
        assert not isinstance(info.value, EventError)
        assert "\n" not in str(info.value)
        own.up()
        assert jobs_codec.decode(unseen)["job_id"] == "unseen"
    finally:
        own.down()


def test_basic_auth_from_the_secret_setting(auth_registry: RegistryEndpoint) -> None:
    """Credentials from BGCUT_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO work; none or wrong: 401."""
    topic = unique_name("auth.jobs")
    settings = StreamSettings(jobs_topic=topic, **auth_registry.settings())
    jobs_codec, _ = build_codecs(settings)
    job = ImageJob(job_id="authed", source=InlineSource(b"123"))
    data = jobs_codec.encode(job.to_record())
    assert data[:1] == b"\x00"
    assert jobs_codec.decode(data)["job_id"] == "authed"
    anonymous = httpx.get(f"{auth_registry.url}/subjects", timeout=10)
    assert anonymous.status_code == 401


def test_wrong_registry_password_is_one_actionable_error(auth_registry: RegistryEndpoint) -> None:
    """A wrong password: RegistryAuthError naming the setting, never echoing the secret."""
    user = USER_INFO.split(":", 1)[0]
    settings = StreamSettings(
        schema_registry_url=auth_registry.url,
        schema_registry_basic_auth_user_info=SecretStr(f"{user}:not-the-password"),
    )
    with pytest.raises(RegistryAuthError) as info:
        build_codecs(settings)
    message = str(info.value)
    assert "\n" not in message
    assert "HTTP 401" in message
    assert "BGCUT_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO" in message
    assert "not-the-password" not in message


# --- Through the stream service: these need the lead's wiring of build_codecs. ---------------


@needs_wiring
def test_service_reads_and_writes_through_a_registry_with_basic_auth(
    kafka_bootstrap: str, server: RunningServer, auth_registry: RegistryEndpoint, tmp_path: Path
) -> None:
    """The service, given the secret setting, processes Confluent jobs from an auth registry."""
    harness = StreamHarness(
        kafka_bootstrap, server.url, tmp_path / "artifacts", overrides=auth_registry.settings()
    )
    producer = ConfluentJobProducer(
        auth_registry, kafka_bootstrap, harness.settings.jobs_topic, bundled(IMAGE_JOB).text
    )
    producer.send(job_record("auth-job", 10))
    with harness.running():
        results = read_results(harness, auth_registry, 1)
    assert results["auth-job"].status == "SUCCEEDED"


@needs_wiring
def test_service_with_the_registry_down_at_start_says_so_in_one_line(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """`bgcut-stream run` against a dead registry: one line naming it; never ready, no trace."""
    url = f"http://127.0.0.1:{free_port()}/apis/ccompat/v7"
    harness = StreamHarness(kafka_bootstrap, server.url, tmp_path / "artifacts")
    port = free_port()
    env = {**harness.env(port), "BGCUT_SCHEMA_REGISTRY_URL": url, "BGCUT_LOG_JSON": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bgcut_stream", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    ready_body = ""
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        assert response.status_code != 200, "ready although the registry is down"
        ready_body = response.text
        if "Schema Registry" in ready_body:
            break
        time.sleep(0.2)
    if proc.poll() is None:
        proc.terminate()
    output = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert "Traceback" not in output
    said = ready_body + output
    assert f"Schema Registry at {url} is unreachable" in said


@needs_wiring
def test_service_retries_jobs_while_the_registry_is_down(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """Registry stopped mid-run: jobs with a not-yet-cached schema id wait, none is dead-
    lettered, and all are processed once it is back (no loss)."""
    own = local_registry(tmp_path / "registry")
    url = own.up()
    try:
        endpoint = RegistryEndpoint(url)
        harness = StreamHarness(
            kafka_bootstrap, server.url, tmp_path / "artifacts", overrides=endpoint.settings()
        )
        topic = harness.settings.jobs_topic
        v1 = ConfluentJobProducer(endpoint, kafka_bootstrap, topic, bundled(IMAGE_JOB).text)
        v2 = ConfluentJobProducer(endpoint, kafka_bootstrap, topic, job_schema_v2_optional_field())
        v2_value = v2.encode({**job_record("during-outage", 12), "priority": 1})
        with harness.running():
            v1.send(job_record("before-outage", 11))
            assert "before-outage" in read_results(harness, endpoint, 1)
            own.down()
            v1.producer.produce(topic, key=b"during-outage", value=v2_value)
            assert v1.producer.flush(30) == 0
            dead = consume_n(kafka_bootstrap, harness.settings.dlq_topic("invalid"), 1, timeout_s=5)
            assert dead == [], "a job was dead-lettered because the registry was down"
            own.up()
            results = read_results(harness, endpoint, 2)
        assert results["during-outage"].status == "SUCCEEDED"
    finally:
        own.down()
