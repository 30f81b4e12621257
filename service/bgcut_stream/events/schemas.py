"""The Avro schemas in ``schemas/`` (shipped inside the package) and their fingerprints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

IMAGE_JOB = "image_job"
IMAGE_RESULT = "image_result"


@dataclass(frozen=True)
class Schema:
    """A parsed schema, its JSON text and its CRC-64-AVRO fingerprint (8 bytes, little-endian)."""

    parsed: Any
    text: str
    fingerprint: bytes

    @classmethod
    def from_json(cls, definition: dict[str, Any] | str) -> Schema:
        """Parse a schema given as JSON text or a dict."""
        raw = json.loads(definition) if isinstance(definition, str) else definition
        parsed = fastavro.parse_schema(raw)
        canonical = to_parsing_canonical_form(parsed)
        # fastavro prints the CRC-64-AVRO value's bytes in little-endian order, as the
        # single-object encoding header stores them.
        digest = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        return cls(parsed, json.dumps(raw), digest)


@cache
def bundled(name: str) -> Schema:
    """A schema shipped with the package: ``image_job`` or ``image_result``."""
    text = (files("bgcut_stream.events") / "schemas" / f"{name}.avsc").read_text()
    return Schema.from_json(text)
