"""The Avro schemas in ``schemas/`` (shipped inside the package) and their fingerprints.

Every released version of a record lives in its own file, ``<name>.v<N>.avsc``, and is never
edited once released (``schemas/RELEASED.sha256`` pins each file; a test checks it). The newest
version is the service's reader and writer schema; every version is a known single-object writer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

IMAGE_JOB = "image_job"
IMAGE_RESULT = "image_result"

_VERSIONED = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>[1-9][0-9]*)\.avsc$")


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

    @property
    def full_name(self) -> str:
        """The record's full name (``bgcut.stream.v1.ImageJob``), or the type for primitives."""
        if isinstance(self.parsed, dict):
            return str(self.parsed.get("name", self.parsed.get("type")))
        return str(self.parsed)


def schema_files() -> list[Traversable]:
    """Every ``<name>.v<N>.avsc`` file shipped with the package."""
    folder = files("bgcut_stream.events") / "schemas"
    return sorted((f for f in folder.iterdir() if _VERSIONED.match(f.name)), key=lambda f: f.name)


@cache
def released(name: str) -> dict[int, Schema]:
    """Every released version of ``image_job`` or ``image_result``, oldest first."""
    versions: dict[int, Schema] = {}
    for file in schema_files():
        match = _VERSIONED.match(file.name)
        if match and match["name"] == name:
            versions[int(match["version"])] = Schema.from_json(file.read_text())
    if not versions:
        raise FileNotFoundError(f"no released schema {name}.v<N>.avsc in the package")
    return dict(sorted(versions.items()))


def bundled(name: str) -> Schema:
    """The newest released version of ``name``: the service's reader and writer schema."""
    return list(released(name).values())[-1]


def released_writers(schema: Schema) -> list[Schema]:
    """Every released schema of the same record as ``schema`` (known single-object writers)."""
    found: list[Schema] = []
    for file in schema_files():
        match = _VERSIONED.match(file.name)
        if match:
            found.extend(
                s for s in released(match["name"]).values() if s.full_name == schema.full_name
            )
    unique = {s.fingerprint: s for s in found}
    return list(unique.values())
