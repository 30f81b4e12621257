"""``bgcut-stream produce``: publish ImageJobs from image files, URIs or existing uploads."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import typer

from bgcut_stream.api.models import OutputVariant
from bgcut_stream.events.jobs import ImageJob, InlineSource, Source, UploadedSource, UriSource
from bgcut_stream.stream.jobs_producer import JobPublisher
from bgcut_stream.stream.settings import StreamSettings


def produce(
    images: list[Path] = typer.Argument(None, help="Image files sent inline."),
    uri: list[str] = typer.Option([], help="Image URIs (https://, s3://, file://)."),
    unique_filename: list[str] = typer.Option([], help="Reprocess existing uploads."),
    variants: str | None = typer.Option(None, help="JSON list of output variants."),
    metadata: str = typer.Option("{}", help="JSON object of strings passed through."),
    repeat: int = typer.Option(1, help="Publish each job this many times (new job_id each)."),
) -> None:
    """Publish one job per image/URI/upload to the jobs topic (BGCUT_JOBS_TOPIC)."""
    parsed = None if variants is None else [OutputVariant(**v) for v in json.loads(variants)]
    sources: list[Source] = [InlineSource(p.read_bytes(), p.name) for p in images or []]
    sources += [UriSource(u) for u in uri] + [UploadedSource(u) for u in unique_filename]
    if not sources:
        raise typer.BadParameter("give at least one image, --uri or --unique-filename")
    publisher = JobPublisher(StreamSettings())
    for _ in range(repeat):
        for source in sources:
            job = ImageJob(
                job_id=str(uuid.uuid4()),
                source=source,
                output_variants=parsed,
                metadata=json.loads(metadata),
            )
            publisher.send(job)
            typer.echo(job.job_id)
    publisher.flush()
