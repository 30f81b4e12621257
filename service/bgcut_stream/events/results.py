"""``ImageResult``: the Python side of ``schemas/image_result.avsc``."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["SUCCEEDED", "FAILED"]


@dataclass(frozen=True)
class Artifact:
    """One stored output variant."""

    variant_name: str
    location: str
    content_type: str
    bytes: int
    sha256: str
    width: int
    height: int


@dataclass
class PhaseTimings:
    """Seconds spent per phase of a job."""

    fetch_s: float = 0.0
    upload_s: float = 0.0
    process_s: float = 0.0
    download_s: float = 0.0
    total_s: float = 0.0


@dataclass(frozen=True)
class JobError:
    """Why a job failed: HTTP status (0 when none), reason (the DLQ name), detail."""

    code: int
    reason: str
    detail: str


@dataclass
class ImageResult:
    """The terminal outcome of one job."""

    job_id: str
    status: Status
    unique_filename: str | None = None
    input_url: str | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    credits_charged: float = 0.0
    upload_reused: bool = False
    attempts: int = 0
    timings: PhaseTimings = field(default_factory=PhaseTimings)
    error: JobError | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    completed_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    schema_version: int = 1

    def to_record(self) -> dict[str, Any]:
        """The Avro record."""
        record = _shallow(self)  # not dataclasses.asdict: it deep-copies every value
        record["artifacts"] = [_shallow(a) for a in self.artifacts]
        record["timings"] = _shallow(self.timings)
        record["error"] = None if self.error is None else _shallow(self.error)
        record["metadata"] = dict(self.metadata)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ImageResult:
        """Build from a decoded record (unions of records arrive as ``(name, value)``)."""
        error = record.get("error")
        if isinstance(error, tuple):
            error = error[1]
        timings = record["timings"]
        if isinstance(timings, tuple):
            timings = timings[1]
        return cls(
            job_id=record["job_id"],
            status=record["status"],
            unique_filename=record.get("unique_filename"),
            input_url=record.get("input_url"),
            artifacts=[Artifact(**a) for a in record.get("artifacts", [])],
            credits_charged=float(record.get("credits_charged", 0.0)),
            upload_reused=bool(record.get("upload_reused")),
            attempts=int(record.get("attempts", 0)),
            timings=PhaseTimings(**timings),
            error=JobError(**error) if error else None,
            metadata=dict(record.get("metadata") or {}),
            completed_at=record["completed_at"],
            schema_version=int(record.get("schema_version", 1)),
        )


def _shallow(obj: Any) -> dict[str, Any]:
    """A dataclass instance's fields as a dict, values not copied."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}
