"""Released schema versions: pinned by a checked-in manifest, all read by single-object decoding."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Any

import fastavro
import pytest

from bgcut_stream.events.codec import SOE_MAGIC, AvroCodec
from bgcut_stream.events.exceptions import UndecodableEventError
from bgcut_stream.events.jobs import ImageJob, UriSource
from bgcut_stream.events.results import Artifact, ImageResult
from bgcut_stream.events.schemas import IMAGE_JOB, IMAGE_RESULT, Schema, bundled, released

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
MANIFEST = SCHEMAS / "RELEASED.sha256"


def _manifest() -> dict[str, str]:
    lines = [ln for ln in MANIFEST.read_text().splitlines() if ln and not ln.startswith("#")]
    return {name: digest for digest, name in (ln.split() for ln in lines)}


def test_released_versions_are_never_edited() -> None:
    """Each released file's sha256 equals the manifest's; no released file is missing."""
    manifest = _manifest()
    assert manifest, "the manifest lists no released schema"
    for name, digest in manifest.items():
        path = SCHEMAS / name
        assert path.exists(), f"released schema {name} was removed"
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        assert actual == digest, f"released schema {name} was edited: add a new version instead"


def test_every_schema_file_is_a_released_version() -> None:
    """Only <name>.v<N>.avsc files, each listed in the manifest (a new version adds a line)."""
    files = sorted(p.name for p in SCHEMAS.glob("*.avsc"))
    assert files, "no schema files"
    for name in files:
        assert re.fullmatch(r"[a-z_]+\.v[1-9][0-9]*\.avsc", name), f"{name} is not versioned"
    assert files == sorted(_manifest()), "schemas/ and RELEASED.sha256 disagree"


def test_the_package_ships_every_released_version() -> None:
    """The installed package sees the same versions as schemas/, newest as the reader."""
    for name in (IMAGE_JOB, IMAGE_RESULT):
        versions = released(name)
        assert sorted(versions) == list(range(1, len(versions) + 1)), f"{name}: version gap"
        on_disk = sorted(SCHEMAS.glob(f"{name}.v*.avsc"))
        assert len(on_disk) == len(versions)
        assert bundled(name) == versions[max(versions)]


def _sample(name: str) -> dict[str, Any]:
    if name == IMAGE_JOB:
        return ImageJob(job_id="j-7", source=UriSource("https://example.com/a.png")).to_record()
    artifact = Artifact("full", "file:///a.png", "image/png", 10, "ab" * 32, 4, 3)
    return ImageResult(job_id="j-7", status="SUCCEEDED", artifacts=[artifact]).to_record()


def _single_object(schema: Schema, record: dict[str, Any]) -> bytes:
    payload = io.BytesIO()
    fastavro.schemaless_writer(payload, schema.parsed, record)
    return SOE_MAGIC + schema.fingerprint + payload.getvalue()


@pytest.mark.parametrize(
    ("name", "version"),
    [(n, v) for n in (IMAGE_JOB, IMAGE_RESULT) for v in released(n)],
)
def test_every_released_version_is_read(name: str, version: int) -> None:
    """A producer still on any released version is read by this service's codec."""
    writer = released(name)[version]
    data = _single_object(writer, _sample(name))
    decoded = AvroCodec(bundled(name)).decode(data)
    assert decoded["job_id"] == "j-7"


def test_unknown_fingerprint_says_how_to_fix_it() -> None:
    """A writer the service never shipped: the error names it and both ways out."""
    unknown = b"\x11" * 8
    with pytest.raises(UndecodableEventError) as info:
        AvroCodec(bundled(IMAGE_JOB)).decode(SOE_MAGIC + unknown + b"\x00")
    message = str(info.value)
    assert "unknown writer schema fingerprint 1111111111111111" in message
    assert "upgrade the service" in message
    assert "Schema Registry" in message
    assert bundled(IMAGE_JOB).fingerprint.hex() in message
    assert "\n" not in message
