"""Avro wire formats: single-object encoding, registry framing, evolution, poison bytes."""

from __future__ import annotations

import copy
import json
import re
import struct
from typing import Any

import pytest

from bgcut_stream.events.codec import AvroCodec
from bgcut_stream.events.exceptions import InvalidJobError, UndecodableEventError
from bgcut_stream.events.jobs import ImageJob, InlineSource, UriSource
from bgcut_stream.events.schemas import IMAGE_JOB, Schema, bundled


def _job() -> ImageJob:
    return ImageJob(
        job_id="j-1", source=UriSource("https://example.com/a.png"), metadata={"team": "catalog"}
    )


def test_single_object_encoding_header() -> None:
    """Records start with C3 01 and the writer schema's 8-byte CRC-64-AVRO fingerprint."""
    codec = AvroCodec(bundled(IMAGE_JOB))
    data = codec.encode(_job().to_record())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == bundled(IMAGE_JOB).fingerprint
    assert ImageJob.from_record(codec.decode(data)).source == UriSource("https://example.com/a.png")


def test_fingerprint_matches_the_avro_spec_value_for_null() -> None:
    """CRC-64-AVRO of the schema "null" is 0x63DD24E7CC258F8A, stored little-endian."""
    assert Schema.from_json('"null"').fingerprint == bytes.fromhex("8a8f25cce724dd63")


def test_newer_writer_with_added_optional_field_is_read() -> None:
    """A v2 writer that added an optional field decodes with our v1 reader schema."""
    v2: dict[str, Any] = copy.deepcopy(json.loads(bundled(IMAGE_JOB).text))
    v2["fields"].append({"name": "priority", "type": ["null", "int"], "default": None})
    writer = Schema.from_json(v2)
    record = {**_job().to_record(), "priority": 7}
    data = AvroCodec(writer).encode(record)
    reader = AvroCodec(bundled(IMAGE_JOB), known_writers=[writer])
    decoded = reader.decode(data)
    assert "priority" not in decoded
    assert decoded["job_id"] == "j-1"


def test_unknown_writer_fingerprint_is_undecodable() -> None:
    """A fingerprint the reader does not know is reported, not guessed."""
    data = b"\xc3\x01" + b"\x01" * 8 + b"\x00"
    with pytest.raises(UndecodableEventError, match="unknown writer schema fingerprint 0101"):
        AvroCodec(bundled(IMAGE_JOB)).decode(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty record value"),
        (b'{"job_id": 1}', "not Avro single-object or Schema Registry framed"),
        (b"\x00\x00\x00\x00\x01abc", "no SCHEMA_REGISTRY_URL is configured"),
    ],
)
def test_poison_bytes_are_undecodable(data: bytes, message: str) -> None:
    """Empty, JSON and registry-framed-without-registry records raise with a reason."""
    with pytest.raises(UndecodableEventError, match=message):
        AvroCodec(bundled(IMAGE_JOB)).decode(data)


def test_truncated_and_padded_payloads_are_undecodable() -> None:
    """Cutting or extending a valid record is caught."""
    codec = AvroCodec(bundled(IMAGE_JOB))
    data = codec.encode(ImageJob(job_id="x", source=InlineSource(b"12345")).to_record())
    with pytest.raises(UndecodableEventError, match="corrupt Avro payload"):
        codec.decode(data[:-3])
    with pytest.raises(UndecodableEventError, match="trailing bytes"):
        codec.decode(data + b"\x00\x00")


class FakeRegistry:
    """An in-memory stand-in for SchemaRegistryClient (unit test of the framing logic)."""

    def __init__(self) -> None:
        self.schemas: dict[int, Any] = {}

    def register_schema(self, subject: str, schema: Any) -> int:
        self.schemas[41] = schema
        return 41

    def get_schema(self, schema_id: int) -> Any:
        return self.schemas[schema_id]


def test_registry_framing_round_trip() -> None:
    """With a registry: 00 + big-endian schema id + payload, and back."""
    registry = FakeRegistry()
    codec = AvroCodec(bundled(IMAGE_JOB), registry=registry, subject="jobs-value")
    data = codec.encode(_job().to_record())
    assert data[:5] == b"\x00" + struct.pack(">I", 41)
    assert codec.decode(data)["metadata"] == {"team": "catalog"}


def test_invalid_variants_in_a_decoded_job_are_rejected() -> None:
    """Variants that break API rules raise InvalidJobError naming the job and the field."""
    record = _job().to_record()
    record["output_variants"] = [
        {
            "variant_name": "a",
            "max_resolution": 10,
            "format": "jpg",
            "background_color": None,
            "quality": "low",
            "output_compression": 85,
            "autocrop": False,
        }
    ]
    expected = "job j-1: output_variants.0: variant 'a': transparent background is not possible"
    with pytest.raises(InvalidJobError, match=re.escape(expected)):
        ImageJob.from_record(record)
