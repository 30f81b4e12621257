"""Avro through a Confluent-API Schema Registry, with Confluent's own serdes.

``build_codecs(settings)`` returns the jobs and results codecs the service uses. Both have the
``AvroCodec`` interface (``schema``, ``encode(record)``, ``decode(data)``):

- with ``SCHEMA_REGISTRY_URL``: ``RegistryCodec``. Confluent-framed records are read by
  ``AvroDeserializer`` (the writer schema fetched by id and cached, resolved against our reader
  schema); records are written by ``AvroSerializer`` (``auto.register.schemas``,
  ``use.latest.version`` and the subject name strategy from the settings, the schema id cached).
  Single-object records are still read, among the released versions.
- without: ``AvroCodec`` (single-object encoding, every released version known).

Errors: a record that cannot be read (garbage, unknown schema id, incompatible writer) raises
``UndecodableEventError`` (an ``EventError``: invalid, dead letter). The registry being down,
refusing our credentials or refusing our schema raises ``RegistryUnavailableError`` (not an
``EventError``): retry or pause, the record is not at fault.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from confluent_kafka.schema_registry import (
    SchemaRegistryClient,
    record_subject_name_strategy,
    topic_record_subject_name_strategy,
    topic_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.common._httpx_compat import httpx as client_httpx
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from bgcut_stream.events.codec import CONFLUENT_MAGIC, SOE_MAGIC, AvroCodec
from bgcut_stream.events.exceptions import (
    EventError,
    RegistryAuthError,
    RegistryConfigError,
    RegistrySchemaRejectedError,
    RegistryUnavailableError,
    UndecodableEventError,
)
from bgcut_stream.events.schemas import IMAGE_JOB, IMAGE_RESULT, Schema, bundled

if TYPE_CHECKING:
    from bgcut_stream.stream.settings import StreamSettings

SUBJECT_NAME_STRATEGIES: dict[str, Callable[..., str | None]] = {
    "topic": topic_subject_name_strategy,
    "record": record_subject_name_strategy,
    "topic-record": topic_record_subject_name_strategy,
}

# The registry client uses httpx2 when installed, else httpx: catch the transport errors of both.
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (client_httpx.HTTPError, httpx.HTTPError)
_REGISTRY_ERRORS: tuple[type[Exception], ...] = (SchemaRegistryError, *_TRANSPORT_ERRORS)
_NOT_FOUND = 404
_AUTH_STATUSES = (401, 403)
_SCHEMA_NOT_FOUND = 40403


def safe_url(url: str) -> str:
    """``url`` without user info, query or fragment (safe for logs and messages)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def registry_client(settings: StreamSettings) -> SchemaRegistryClient:
    """A client for ``SCHEMA_REGISTRY_URL``, basic auth from its own secret setting."""
    url = settings.schema_registry_url
    if not url:
        raise RegistryConfigError("SCHEMA_REGISTRY_URL is not set")
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise RegistryConfigError(
            "SCHEMA_REGISTRY_URL must not carry credentials: put USER:PASSWORD in "
            "BGCUT_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO (a secret) instead"
        )
    conf: dict[str, Any] = {
        "url": url,
        "timeout": 10,
        "max.retries": 2,
        "retries.wait.ms": 200,
        "retries.max.wait.ms": 2000,
    }
    user_info = settings.schema_registry_basic_auth_user_info
    if user_info is not None:
        secret = user_info.get_secret_value()
        user, sep, password = secret.partition(":")
        if not sep or not user or not password:
            raise RegistryConfigError(
                "BGCUT_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO must be USER:PASSWORD"
            )
        conf["basic.auth.user.info"] = secret
    return SchemaRegistryClient(conf)


def registry_failure(exc: Exception, url: str, doing: str) -> RegistryUnavailableError:
    """The one-line ``RegistryUnavailableError`` for a failed registry call."""
    where = f"Schema Registry at {safe_url(url)}"
    if isinstance(exc, SchemaRegistryError):
        if exc.http_status_code in _AUTH_STATUSES:
            return RegistryAuthError(
                f"{where} refused the credentials while {doing} (HTTP {exc.http_status_code}): "
                "check BGCUT_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO (USER:PASSWORD)"
            )
        if exc.http_status_code < 500 and exc.http_status_code not in (408, 429):
            return RegistrySchemaRejectedError(
                f"{where} refused {doing}: {exc.error_message} (HTTP {exc.http_status_code})"
            )
        return RegistryUnavailableError(
            f"{where} failed while {doing}: {exc.error_message} (HTTP {exc.http_status_code})"
        )
    return RegistryUnavailableError(
        f"{where} is unreachable while {doing} ({type(exc).__name__}: {exc}); check "
        "SCHEMA_REGISTRY_URL, or start the local one with `bgcut-stream registry up`"
    )


def check_registry(client: SchemaRegistryClient, url: str) -> None:
    """Fail with one ``RegistryUnavailableError`` line unless the registry answers us."""
    try:
        client.get_subjects()
    except _REGISTRY_ERRORS as exc:
        raise registry_failure(exc, url, "listing subjects") from exc


class RegistryCodec:
    """One record type on one topic, through a Schema Registry with Confluent's serdes."""

    def __init__(
        self,
        schema: Schema,
        client: SchemaRegistryClient,
        topic: str,
        *,
        url: str,
        auto_register: bool = True,
        use_latest_version: bool = False,
        subject_name_strategy: str = "topic",
        known_writers: list[Schema] | None = None,
    ) -> None:
        if auto_register and use_latest_version:
            raise RegistryConfigError(
                "BGCUT_SCHEMA_REGISTRY_USE_LATEST_VERSION=true needs "
                "BGCUT_SCHEMA_REGISTRY_AUTO_REGISTER=false"
            )
        strategy = SUBJECT_NAME_STRATEGIES.get(subject_name_strategy)
        if strategy is None:
            raise RegistryConfigError(
                f"unknown subject name strategy {subject_name_strategy!r}: "
                f"use one of {', '.join(SUBJECT_NAME_STRATEGIES)}"
            )
        self.schema = schema
        self.client = client
        self.topic = topic
        self.url = url
        self._context = SerializationContext(topic, MessageField.VALUE)
        self._single_object = AvroCodec(schema, known_writers=known_writers)
        self._serializer = AvroSerializer(
            client,
            schema.text,
            conf={
                "auto.register.schemas": auto_register,
                "use.latest.version": use_latest_version,
                "subject.name.strategy": strategy,
            },
        )
        self._deserializer = AvroDeserializer(
            client,
            schema.text,
            return_record_name=True,
            conf={"subject.name.strategy": strategy},
        )

    def check(self) -> None:
        """Fail with one ``RegistryUnavailableError`` line unless the registry answers us."""
        check_registry(self.client, self.url)

    def encode(self, record: dict[str, Any]) -> bytes:
        """Confluent framing with this schema's registry id (registered or looked up once)."""
        try:
            data = self._serializer(record, self._context)
        except _REGISTRY_ERRORS as exc:
            raise registry_failure(
                exc, self.url, f"registering {self.schema.full_name} for topic {self.topic}"
            ) from exc
        except (TypeError, ValueError) as exc:
            raise EventError(f"cannot encode {self.schema.full_name}: {exc}") from exc
        if data is None:  # pragma: no cover - only for a None record
            raise EventError("nothing to encode")
        return bytes(data)

    def decode(self, data: bytes | None) -> dict[str, Any]:
        """Read a Confluent-framed or single-object record, resolved against our schema."""
        if not data:
            raise UndecodableEventError("empty record value")
        if data[:2] == SOE_MAGIC:
            return self._single_object.decode_single_object(data)
        if data[:1] != CONFLUENT_MAGIC or len(data) < 6:
            raise UndecodableEventError(
                f"not Avro single-object or Schema Registry framed (first bytes {data[:4].hex()})"
            )
        (schema_id,) = struct.unpack(">I", data[1:5])
        try:
            record = self._deserializer(data, self._context)
        except SchemaRegistryError as exc:
            if exc.http_status_code == _NOT_FOUND or exc.error_code == _SCHEMA_NOT_FOUND:
                raise UndecodableEventError(
                    f"schema id {schema_id} is not known to the Schema Registry at "
                    f"{safe_url(self.url)}: {exc.error_message}"
                ) from exc
            raise registry_failure(exc, self.url, f"fetching schema id {schema_id}") from exc
        except _TRANSPORT_ERRORS as exc:
            raise registry_failure(exc, self.url, f"fetching schema id {schema_id}") from exc
        except Exception as exc:
            raise UndecodableEventError(
                f"cannot read the record with writer schema id {schema_id}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(record, dict):
            raise UndecodableEventError("record is not an Avro record")
        return record


Codec = AvroCodec | RegistryCodec


def build_codecs(
    settings: StreamSettings,
    *,
    check: bool = True,
    known_job_writers: list[Schema] | None = None,
) -> tuple[Codec, Codec]:
    """The (jobs, results) codecs for ``settings``; checks the registry answers when one is set.

    ``known_job_writers`` are extra single-object job writers (the released ones are always
    known). Raises ``RegistryConfigError`` for settings that cannot work and
    ``RegistryUnavailableError`` (one line) when ``check`` is true and the registry is down or
    refuses the credentials; ``codec.check()`` probes again later (a no-op without a registry).
    """
    jobs_schema, results_schema = bundled(IMAGE_JOB), bundled(IMAGE_RESULT)
    url = settings.schema_registry_url
    if not url:
        return AvroCodec(jobs_schema, known_writers=known_job_writers), AvroCodec(results_schema)
    client = registry_client(settings)
    options: dict[str, Any] = {
        "url": url,
        "auto_register": settings.schema_registry_auto_register,
        "use_latest_version": settings.schema_registry_use_latest_version,
        "subject_name_strategy": settings.schema_registry_subject_name_strategy,
    }
    jobs = RegistryCodec(
        jobs_schema, client, settings.jobs_topic, known_writers=known_job_writers, **options
    )
    results = RegistryCodec(results_schema, client, settings.results_topic, **options)
    if check:
        results.check()
    return jobs, results
