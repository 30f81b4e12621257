"""``ImageJob``: the Python side of ``schemas/image_job.avsc``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from bgcut_stream.api.models import OutputVariant, ProcessImageIn
from bgcut_stream.api.validation import describe
from bgcut_stream.events.exceptions import InvalidJobError

_NS = "bgcut.stream.v1."


@dataclass(frozen=True)
class UriSource:
    """Fetch the image from a URI (https://, s3://, file:// when allowed)."""

    uri: str


@dataclass(frozen=True)
class InlineSource:
    """The image bytes travel in the event (small images)."""

    data: bytes
    filename: str | None = None


@dataclass(frozen=True)
class UploadedSource:
    """Reprocess an existing upload."""

    unique_filename: str


Source = UriSource | InlineSource | UploadedSource


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ImageJob:
    """One job: where the image is, which variants to make, metadata passed through."""

    job_id: str
    source: Source
    output_variants: list[OutputVariant] | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    submitted_at: datetime = field(default_factory=_now)
    schema_version: int = 1

    def to_record(self) -> dict[str, Any]:
        """The Avro record (unions of records as ``(name, value)`` tuples)."""
        source: tuple[str, dict[str, Any]]
        if isinstance(self.source, UriSource):
            source = (_NS + "UriSource", {"uri": self.source.uri})
        elif isinstance(self.source, InlineSource):
            source = (
                _NS + "InlineSource",
                {"data": self.source.data, "filename": self.source.filename},
            )
        else:
            source = (_NS + "UploadedSource", {"unique_filename": self.source.unique_filename})
        variants = None
        if self.output_variants is not None:
            variants = [v.model_dump() for v in self.output_variants]
        return {
            "schema_version": self.schema_version,
            "job_id": self.job_id,
            "submitted_at": self.submitted_at,
            "source": source,
            "output_variants": variants,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ImageJob:
        """Build from a decoded record; InvalidJobError when the variants break the API's rules."""
        name, value = record["source"]
        kind = str(name).rsplit(".", 1)[-1]
        source: Source
        if kind == "UriSource":
            source = UriSource(value["uri"])
        elif kind == "InlineSource":
            source = InlineSource(value["data"], value.get("filename"))
        else:
            source = UploadedSource(value["unique_filename"])
        raw_variants = record.get("output_variants")
        job_id = str(record["job_id"])
        try:
            checked = ProcessImageIn(unique_filename="job", output_variants=raw_variants)
        except ValidationError as exc:
            raise InvalidJobError(f"job {job_id}: {describe(exc)}") from exc
        submitted = record["submitted_at"]
        if isinstance(submitted, int):
            submitted = datetime.fromtimestamp(submitted / 1000, UTC)
        return cls(
            job_id=job_id,
            source=source,
            output_variants=checked.output_variants if raw_variants is not None else None,
            metadata=dict(record.get("metadata") or {}),
            submitted_at=submitted,
            schema_version=int(record.get("schema_version", 1)),
        )
