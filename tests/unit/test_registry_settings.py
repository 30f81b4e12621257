"""Schema Registry settings: credentials only from the secret, conflicting options refused."""

from __future__ import annotations

import copy
import json

import pytest
from pydantic import SecretStr

from bgcut_stream.events.codec import AvroCodec
from bgcut_stream.events.exceptions import EventError, RegistryConfigError, RegistryUnavailableError
from bgcut_stream.events.jobs import ImageJob, UriSource
from bgcut_stream.events.registry import RegistryCodec, build_codecs, registry_failure, safe_url
from bgcut_stream.events.schemas import IMAGE_JOB, Schema, bundled
from bgcut_stream.stream.settings import StreamSettings


def test_without_a_registry_both_codecs_are_single_object() -> None:
    """No SCHEMA_REGISTRY_URL: single-object codecs, nothing contacted."""
    jobs, results = build_codecs(StreamSettings(schema_registry_url=None))
    assert isinstance(jobs, AvroCodec)
    assert isinstance(results, AvroCodec)


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    """user:password@ in the URL is refused; the message names the secret setting instead."""
    settings = StreamSettings(schema_registry_url="http://alice:hunter2@registry:8081")
    with pytest.raises(RegistryConfigError) as info:
        build_codecs(settings, check=False)
    assert "BGCUT_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_user_info_must_be_user_colon_password() -> None:
    """A secret without a colon is refused with the expected form (and not echoed)."""
    settings = StreamSettings(
        schema_registry_url="http://registry:8081",
        schema_registry_basic_auth_user_info=SecretStr("justapassword"),
    )
    with pytest.raises(RegistryConfigError, match="must be USER:PASSWORD") as info:
        build_codecs(settings, check=False)
    assert "justapassword" not in str(info.value)


def test_use_latest_version_needs_auto_register_off() -> None:
    """Confluent's serializer cannot do both; the message names the two settings."""
    settings = StreamSettings(
        schema_registry_url="http://registry:8081", schema_registry_use_latest_version=True
    )
    with pytest.raises(RegistryConfigError, match="AUTO_REGISTER=false"):
        build_codecs(settings, check=False)
    settings = settings.model_copy(update={"schema_registry_auto_register": False})
    jobs, _ = build_codecs(settings, check=False)
    assert isinstance(jobs, RegistryCodec)


def test_registry_trouble_is_not_an_event_error() -> None:
    """The handler must retry/pause on RegistryUnavailableError, never dead-letter it."""
    assert not issubclass(RegistryUnavailableError, EventError)
    error = registry_failure(ConnectionError("refused"), "http://u:p@r:8081/x?token=1", "testing")
    assert isinstance(error, RegistryUnavailableError)
    assert "u:p" not in str(error)
    assert "token" not in str(error)
    assert safe_url("https://u:p@r:8081/apis/ccompat/v7?x=1") == "https://r:8081/apis/ccompat/v7"


def test_extra_single_object_writers_can_be_passed_through_the_factory() -> None:
    """known_job_writers reach the jobs codec (the service's old constructor argument)."""
    v2 = copy.deepcopy(json.loads(bundled(IMAGE_JOB).text))
    v2["fields"].append({"name": "priority", "type": ["null", "int"], "default": None})
    writer = Schema.from_json(v2)
    job = ImageJob(job_id="j-2", source=UriSource("https://example.com/b.png"))
    data = AvroCodec(writer).encode({**job.to_record(), "priority": 3})
    plain, _ = build_codecs(StreamSettings(schema_registry_url=None))
    with pytest.raises(EventError, match="unknown writer schema fingerprint"):
        plain.decode(data)
    jobs, _ = build_codecs(StreamSettings(schema_registry_url=None), known_job_writers=[writer])
    assert jobs.decode(data)["job_id"] == "j-2"
    jobs.check()  # no registry: nothing to probe
