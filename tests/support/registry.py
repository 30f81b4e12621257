"""Schema Registry helpers for tests: one way to get a real registry, producers through it.

``SCHEMA_REGISTRY_URL`` selects an existing registry; otherwise the project's local Apicurio
Registry is started (``bgcut_stream.registry_local``), its application cached under
``~/.cache/bgcut-stream``.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from pydantic import SecretStr

from bgcut_stream.events.schemas import IMAGE_JOB, IMAGE_RESULT, bundled
from bgcut_stream.kafka_local.broker import free_port
from bgcut_stream.registry_local import LocalRegistry, RegistryConfig

AUTH_ENV = "BGCUT_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"


@dataclass(frozen=True)
class RegistryEndpoint:
    """A registry's Confluent-API URL and the USER:PASSWORD it wants (None: no auth)."""

    url: str
    user_info: str | None = None

    def settings(self) -> dict[str, Any]:
        """StreamSettings fields pointing at this registry."""
        secret = SecretStr(self.user_info) if self.user_info else None
        return {
            "schema_registry_url": self.url,
            "schema_registry_basic_auth_user_info": secret,
        }

    def client(self) -> SchemaRegistryClient:
        """A Confluent client of this registry (as an upstream producer team would make)."""
        conf: dict[str, Any] = {"url": self.url}
        if self.user_info:
            conf["basic.auth.user.info"] = self.user_info
        return SchemaRegistryClient(conf)


def local_registry(state_dir: Path, user_info: str | None = None) -> LocalRegistry:
    """A local registry on a fixed free port (so a restart keeps its URL and its H2 data)."""
    return LocalRegistry(
        RegistryConfig(state_dir=state_dir, port=free_port(), basic_auth_user_info=user_info)
    )


@contextmanager
def schema_registry(state_dir: Path, user_info: str | None = None) -> Iterator[RegistryEndpoint]:
    """Yield a registry: ``SCHEMA_REGISTRY_URL`` if set (and matching the auth asked), else ours.

    With ``user_info``, an external registry is used only when ``$BGCUT_SCHEMA_REGISTRY_BASIC_
    AUTH_USER_INFO`` holds its credentials; otherwise a local one with basic auth is started.
    """
    external = os.environ.get("SCHEMA_REGISTRY_URL")
    external_auth = os.environ.get(AUTH_ENV)
    if external and (user_info is None or external_auth):
        yield RegistryEndpoint(external, external_auth if user_info else None)
        return
    registry = local_registry(state_dir, user_info)
    url = registry.up()
    try:
        yield RegistryEndpoint(url, user_info)
    finally:
        registry.down()


def job_schema_v2_optional_field() -> str:
    """ImageJob v1 plus an optional ``priority`` (a compatible evolution)."""
    v2: dict[str, Any] = copy.deepcopy(json.loads(bundled(IMAGE_JOB).text))
    v2["fields"].append({"name": "priority", "type": ["null", "int"], "default": None})
    return json.dumps(v2)


def job_schema_without_job_id() -> str:
    """ImageJob v1 without its required ``job_id`` (an incompatible evolution)."""
    v2: dict[str, Any] = copy.deepcopy(json.loads(bundled(IMAGE_JOB).text))
    v2["fields"] = [f for f in v2["fields"] if f["name"] != "job_id"]
    return json.dumps(v2)


class ConfluentJobProducer:
    """Publishes job records with Confluent's AvroSerializer, as an upstream team does."""

    def __init__(
        self, registry: RegistryEndpoint, bootstrap: str, topic: str, schema_str: str
    ) -> None:
        self.topic = topic
        self.serializer = AvroSerializer(registry.client(), schema_str)
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})

    def encode(self, record: dict[str, Any]) -> bytes:
        """The Confluent-framed bytes of ``record`` (registers the schema on first use)."""
        data = self.serializer(record, SerializationContext(self.topic, MessageField.VALUE))
        assert data is not None
        return bytes(data)

    def send(self, record: dict[str, Any]) -> None:
        """Publish ``record`` keyed by its job_id and wait for the ack."""
        self.producer.produce(
            self.topic, key=str(record["job_id"]).encode(), value=self.encode(record)
        )
        assert self.producer.flush(30) == 0


def results_deserializer(registry: RegistryEndpoint) -> AvroDeserializer:
    """Confluent's AvroDeserializer with our ImageResult as the reader schema."""
    return AvroDeserializer(registry.client(), bundled(IMAGE_RESULT).text, return_record_name=True)
