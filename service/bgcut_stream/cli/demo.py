"""``bgcut-stream demo``: the main job end to end on embedded defaults.

Local Apache Kafka (or $KAFKA_BOOTSTRAP_SERVERS), our BackgroundCut server on a free port, the
stream service in-process, sample jobs from the bundled photos, results printed as a table.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import ExitStack
from importlib.resources import files
from pathlib import Path

import typer
from confluent_kafka import Consumer

from bgcut_stream import localstack
from bgcut_stream.api.models import OutputVariant
from bgcut_stream.client.settings import ClientSettings
from bgcut_stream.events.codec import AvroCodec
from bgcut_stream.events.jobs import ImageJob, InlineSource, UploadedSource
from bgcut_stream.events.results import ImageResult
from bgcut_stream.events.schemas import IMAGE_RESULT, bundled
from bgcut_stream.observability.logging import configure
from bgcut_stream.stream.jobs_producer import JobPublisher
from bgcut_stream.stream.service import StreamService
from bgcut_stream.stream.settings import StreamSettings
from bgcut_stream.stream.topics import ensure_topics

DEMO_KEY = "demo-key"
PHOTOS = ("astronaut", "chelsea", "coffee")
VARIANTS = [
    OutputVariant(variant_name="full"),
    OutputVariant(
        variant_name="thumb",
        format="webp",
        max_resolution=250_000,
        autocrop=True,
        output_compression=80,
    ),
    OutputVariant(variant_name="white", format="jpg", background_color="#ffffff"),
]


def _photo(name: str) -> bytes:
    """A bundled sample photo (see cli/photos/README.md)."""
    return (files("bgcut_stream.cli") / "photos" / f"{name}.jpg").read_bytes()


def _jobs() -> list[ImageJob | bytes]:
    jobs: list[ImageJob | bytes] = [
        ImageJob(
            job_id=f"photo-{name}",
            source=InlineSource(_photo(name), f"{name}.jpg"),
            output_variants=VARIANTS,
            metadata={"photo": name},
        )
        for name in PHOTOS
    ]
    jobs.append(
        ImageJob(
            job_id="photo-astronaut-again",
            output_variants=VARIANTS[:1],
            source=InlineSource(_photo("astronaut")),
        )
    )
    jobs.append(ImageJob(job_id="unknown-upload", source=UploadedSource("no-such-upload")))
    jobs.append(b"this is not an Avro record")
    return jobs


def _publish(settings: StreamSettings) -> int:
    publisher = JobPublisher(settings)
    jobs = _jobs()
    for job in jobs:
        if isinstance(job, bytes):
            publisher.send_raw(job, key="garbage")
        else:
            publisher.send(job)
    publisher.flush()
    return len(jobs)


def _table(results: list[ImageResult], root: Path) -> str:
    lines = [f"{'job_id':<24}{'status':<11}{'reused':<8}{'credits':<9}{'outputs / error'}"]
    for r in sorted(results, key=lambda x: x.job_id):
        detail = (
            ", ".join(
                f"{a.variant_name} {a.width}x{a.height} {a.bytes // 1024}KiB" for a in r.artifacts
            )
            if r.error is None
            else f"{r.error.reason} ({r.error.code}): {r.error.detail[:60]}"
        )
        lines.append(
            f"{r.job_id[:23]:<24}{r.status:<11}{r.upload_reused!s:<8}{r.credits_charged:<9}{detail}"
        )
    lines.append(f"artifacts in {root}")
    return "\n".join(lines)


def demo(
    state_dir: Path = typer.Option(Path(".bgcut/demo"), help="Logs and data of this demo."),
    artifacts: Path = typer.Option(Path("artifacts/demo"), help="Where outputs are stored."),
) -> None:
    """Start the local stack, publish sample jobs, process them, print the results."""
    configure("ERROR", json=False)
    state_dir.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:6]
    with ExitStack() as stack:
        kafka = stack.enter_context(localstack.kafka(state_dir / "kafka"))
        typer.echo(f"kafka: {kafka.bootstrap} ({kafka.origin})")
        bootstrap = kafka.bootstrap
        server = stack.enter_context(
            localstack.server_process(
                state_dir / "server", keys=f"{DEMO_KEY}:1000", log=state_dir / "server.log"
            )
        )
        api_url = server.url
        typer.echo(f"server: BackgroundCut API v3 (U2-Net-p) at {api_url}")
        settings = StreamSettings(
            kafka_bootstrap_servers=bootstrap,
            jobs_topic=f"demo-{run}.jobs",
            results_topic=f"demo-{run}.results",
            uploads_topic=f"demo-{run}.uploads",
            group_id=f"demo-{run}",
            artifact_store=f"file://{artifacts.resolve()}",
            metrics_port=0,
        )
        ensure_topics(settings)
        count = _publish(settings)
        typer.echo(f"kafka: published {count} jobs to {settings.jobs_topic}")
        client = ClientSettings(base_url=api_url, api_key=DEMO_KEY)
        results = asyncio.run(_process(settings, client, count))
    typer.echo(_table(results, artifacts.resolve()))


async def _process(
    settings: StreamSettings, client: ClientSettings, count: int
) -> list[ImageResult]:
    service = StreamService(settings, client)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        return await asyncio.to_thread(_read_results, settings, count)
    finally:
        stop.set()
        await task


def _read_results(
    settings: StreamSettings, count: int, timeout_s: float = 300
) -> list[ImageResult]:
    codec = AvroCodec(bundled(IMAGE_RESULT))
    consumer = Consumer(
        settings.kafka(
            **{"group.id": f"{settings.group_id}-reader", "auto.offset.reset": "earliest"}
        )
    )
    consumer.subscribe([settings.results_topic])
    results: list[ImageResult] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(results) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            results.append(ImageResult.from_record(codec.decode(msg.value())))
    finally:
        consumer.close()
    return results
