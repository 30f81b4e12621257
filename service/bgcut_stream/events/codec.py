"""Encode and decode Avro records in the two wire formats the service accepts.

- Avro single-object encoding (the Avro spec): ``C3 01`` + 8-byte CRC-64-AVRO fingerprint of the
  writer schema + the binary record. Writers are resolved among every version this project has
  released (``schemas/<name>.v<N>.avsc``); a writer the service has never seen cannot be read.
- Confluent Schema Registry framing: ``00`` + 4-byte big-endian schema id + the binary record.
  ``events.registry.RegistryCodec`` (built by ``events.registry.build_codecs``) reads and writes
  it with Confluent's serdes; the raw ``registry`` argument here is the older, minimal path.

The reader resolves every writer against its own reader schema, so a writer that added an
optional field is read fine.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import fastavro

from bgcut_stream.events.exceptions import UndecodableEventError
from bgcut_stream.events.schemas import Schema, released_writers

SOE_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"


class AvroCodec:
    """One record type: a reader schema, known writer schemas, and an optional registry.

    The known single-object writers are ``schema``, every released version of the same record
    and ``known_writers``.
    """

    def __init__(
        self,
        schema: Schema,
        *,
        known_writers: list[Schema] | None = None,
        registry: Any = None,
        subject: str | None = None,
    ) -> None:
        self.schema = schema
        writers = [*released_writers(schema), schema, *(known_writers or [])]
        self._writers = {w.fingerprint: w for w in writers}
        self._registry = registry
        self._subject = subject
        self._registry_id: int | None = None
        self._registry_writers: dict[int, Any] = {}

    def check(self) -> None:
        """Nothing to reach without a registry (``RegistryCodec.check`` probes its registry)."""

    def encode(self, record: dict[str, Any]) -> bytes:
        """Serialize with the registry framing when a registry is set, else single-object."""
        payload = io.BytesIO()
        fastavro.schemaless_writer(payload, self.schema.parsed, record)
        if self._registry is not None:
            return CONFLUENT_MAGIC + struct.pack(">I", self._schema_id()) + payload.getvalue()
        return SOE_MAGIC + self.schema.fingerprint + payload.getvalue()

    def _schema_id(self) -> int:
        if self._registry_id is None:
            from confluent_kafka.schema_registry import (  # noqa: PLC0415 - optional path
                Schema as RegistrySchema,
            )

            registered = RegistrySchema(self.schema.text, "AVRO")
            self._registry_id = int(self._registry.register_schema(self._subject, registered))
        return self._registry_id

    def _registry_writer(self, schema_id: int) -> Any:
        if schema_id not in self._registry_writers:
            registered = self._registry.get_schema(schema_id)
            self._registry_writers[schema_id] = Schema.from_json(registered.schema_str).parsed
        return self._registry_writers[schema_id]

    def decode(self, data: bytes | None) -> dict[str, Any]:
        """Read a record in either framing; UndecodableEventError says why it cannot be read."""
        if not data:
            raise UndecodableEventError("empty record value")
        if data[:2] == SOE_MAGIC:
            return self.decode_single_object(data)
        if data[:1] == CONFLUENT_MAGIC and len(data) >= 5:
            if self._registry is None:
                raise UndecodableEventError(
                    "Schema Registry framed record but no SCHEMA_REGISTRY_URL is configured"
                )
            (schema_id,) = struct.unpack(">I", data[1:5])
            try:
                writer_schema = self._registry_writer(schema_id)
            except Exception as exc:
                raise UndecodableEventError(f"schema id {schema_id}: {exc}") from exc
            return self.read_payload(data[5:], writer_schema)
        raise UndecodableEventError(
            f"not Avro single-object or Schema Registry framed (first bytes {data[:4].hex()})"
        )

    def decode_single_object(self, data: bytes) -> dict[str, Any]:
        """Read a ``C3 01`` record whose writer is one of the known (released) schemas."""
        writer = self._writers.get(data[2:10])
        if writer is None:
            known = ", ".join(w.hex() for w in self._writers)
            raise UndecodableEventError(
                f"unknown writer schema fingerprint {data[2:10].hex()} (single-object encoding): "
                f"this service reads only the {self.schema.full_name} versions it was released "
                f"with (fingerprints {known}); upgrade the service to the release that ships the "
                "producer's schema, or write through a Schema Registry (Confluent framing, "
                "SCHEMA_REGISTRY_URL) so any compatible writer schema is read"
            )
        return self.read_payload(data[10:], writer.parsed)

    def read_payload(self, payload: bytes, writer: Any) -> dict[str, Any]:
        """Resolve one binary record written with ``writer`` against the reader schema."""
        stream = io.BytesIO(payload)
        try:
            record = fastavro.schemaless_reader(
                stream, writer, self.schema.parsed, return_record_name=True
            )
        except Exception as exc:
            raise UndecodableEventError(
                f"corrupt Avro payload: {type(exc).__name__}: {exc}"
            ) from exc
        if stream.tell() != len(payload):
            raise UndecodableEventError(
                f"trailing bytes after the record ({len(payload) - stream.tell()})"
            )
        if not isinstance(record, dict):
            raise UndecodableEventError("record is not an Avro record")
        return record
