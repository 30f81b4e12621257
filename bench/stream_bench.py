"""The stream service vs a naive one-at-a-time consumer, same workloads, one run.

Our server with a fixed injected latency per API call (default 100 ms), one low-quality variant
per job. Two workloads:
- reprocess: every job names one pre-uploaded tiny image (process + download per job; the mask
  is cached, so the API's own CPU is not what is measured);
- fresh: every job carries a distinct tiny image (upload + U2-Net-p inference + process +
  download), where this 2-core machine's CPU is shared by the server, Kafka and the service.
Reports jobs/s of each, the ideal (in-flight cap / per-job API time, the per-job time taken from
the naive consumer), and the service's CPU ms per job.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from confluent_kafka import Consumer

sys.path.insert(0, str(Path(__file__).parent))
from bgcut_stream.api.models import OutputVariant
from bgcut_stream.events.codec import AvroCodec
from bgcut_stream.events.jobs import ImageJob, InlineSource, UploadedSource
from bgcut_stream.events.schemas import IMAGE_JOB, bundled
from bgcut_stream.kafka_local import BrokerConfig, LocalBroker
from bgcut_stream.stream.jobs_producer import JobPublisher
from bgcut_stream.stream.settings import StreamSettings
from bgcut_stream.stream.topics import ensure_topics
from common import cpu_seconds, free_port, noise_png, server_process, table

JOBS = int(os.environ.get("BENCH_JOBS", "120"))
LATENCY_MS = float(os.environ.get("BENCH_LATENCY_MS", "100"))
PARTITIONS = 4
PER_PARTITION = 4
VARIANT = [OutputVariant(quality="low")]
AUTH = {"Authorization": "Bearer bench"}


def _settings(bootstrap: str, tag: str) -> StreamSettings:
    prefix = f"bench-{tag}-{uuid.uuid4().hex[:6]}"
    return StreamSettings(
        kafka_bootstrap_servers=bootstrap,
        jobs_topic=f"{prefix}.jobs",
        results_topic=f"{prefix}.results",
        uploads_topic=f"{prefix}.uploads",
        group_id=prefix,
    )


def _publish(settings: StreamSettings, seed: int, unique: str | None) -> None:
    ensure_topics(settings, partitions=PARTITIONS)
    publisher = JobPublisher(settings)
    for i in range(JOBS):
        source = UploadedSource(unique) if unique else InlineSource(noise_png(seed + i))
        publisher.send(ImageJob(job_id=f"j{i}", source=source, output_variants=VARIANT))
    publisher.flush()


def _count_results(settings: StreamSettings, count: int, timeout_s: float = 600) -> None:
    consumer = Consumer(
        settings.kafka(**{"group.id": f"{settings.group_id}-r", "auto.offset.reset": "earliest"})
    )
    consumer.subscribe([settings.results_topic])
    seen = 0
    deadline = time.monotonic() + timeout_s
    while seen < count and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            seen += 1
    consumer.close()


def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("service not ready")


def service_run(bootstrap: str, api: str, work: Path, unique: str | None) -> tuple[float, float]:
    """(jobs/s, CPU ms per job) of ``bgcut-stream run``, timed from publish to last result."""
    settings = _settings(bootstrap, "svc")
    ensure_topics(settings, partitions=PARTITIONS)
    port = free_port()
    env = {
        **os.environ,
        "BGCUT_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "BGCUT_JOBS_TOPIC": settings.jobs_topic,
        "BGCUT_RESULTS_TOPIC": settings.results_topic,
        "BGCUT_UPLOADS_TOPIC": settings.uploads_topic,
        "BGCUT_GROUP_ID": settings.group_id,
        "BGCUT_MAX_IN_FLIGHT_PER_PARTITION": str(PER_PARTITION),
        "BGCUT_ORDERING": "partition",  # as its README table was measured
        "BGCUT_ARTIFACT_STORE": f"file://{work / 'artifacts'}",
        "BGCUT_METRICS_PORT": str(port),
        "BGCUT_LOG_LEVEL": "WARNING",
        "BGCUT_API_BASE_URL": api,
        "BGCUT_API_API_KEY": "bench",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bgcut_stream", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(port)
        cpu_before = cpu_seconds(proc.pid)
        started = time.perf_counter()
        _publish(settings, 0, unique)
        _count_results(settings, JOBS)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(proc.pid) - cpu_before
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return JOBS / elapsed, cpu * 1000 / JOBS


def naive_run(bootstrap: str, api: str, work: Path, unique: str | None) -> tuple[float, float]:
    """(jobs/s, seconds per job) of a poll-one, call-the-API, download, commit loop."""
    settings = _settings(bootstrap, "naive")
    _publish(settings, 10_000, unique)
    codec = AvroCodec(bundled(IMAGE_JOB))
    consumer = Consumer(
        settings.kafka(
            **{
                "group.id": settings.group_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
    )
    consumer.subscribe([settings.jobs_topic])
    done = 0
    started = time.perf_counter()
    with httpx.Client(base_url=api, headers=AUTH, timeout=60) as http:
        while done < JOBS:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            job = ImageJob.from_record(codec.decode(msg.value()))
            if isinstance(job.source, UploadedSource):
                uploaded = job.source.unique_filename
            else:
                assert isinstance(job.source, InlineSource)
                upload = http.post(
                    "/v3/remove-bg/upload-image/", files={"image": ("i.png", job.source.data)}
                )
                uploaded = upload.json()["unique_filename"]
            out = http.post(
                "/v3/remove-bg/process-image/",
                json={
                    "unique_filename": uploaded,
                    "output_variants": [v.model_dump() for v in VARIANT],
                },
            ).json()
            for name, url in out["output_urls"].items():
                (work / f"{job.job_id}-{name}.png").write_bytes(http.get(url).content)
            consumer.commit(msg, asynchronous=False)
            done += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return JOBS / elapsed, elapsed / JOBS


def main() -> None:
    rows = []
    cap = PARTITIONS * PER_PARTITION
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        broker = None if external else LocalBroker(BrokerConfig(state_dir=work / "kafka", port=0))
        bootstrap = external or broker.up()  # type: ignore[union-attr]
        try:
            with server_process(work / "server", BGCUT_SERVER_FAULT_LATENCY_MS=str(LATENCY_MS)) as (
                api,
                _,
            ):
                with httpx.Client(base_url=api, headers=AUTH) as client:
                    shared = client.post(
                        "/v3/remove-bg/upload-image/", files={"image": ("s.png", noise_png(99))}
                    ).json()
                for name, unique in (("reprocess", shared["unique_filename"]), ("fresh", None)):
                    naive_rate, per_job = naive_run(bootstrap, api, work, unique)
                    rate, cpu_ms = service_run(bootstrap, api, work, unique)
                    ideal = cap / per_job
                    rows.append(
                        [
                            name,
                            str(JOBS),
                            f"{LATENCY_MS:g} ms",
                            str(cap),
                            f"{naive_rate:.2f}",
                            f"{rate:.2f}",
                            f"{rate / naive_rate:.1f}x",
                            f"{ideal:.1f}",
                            f"{rate / ideal:.0%}",
                            f"{cpu_ms:.1f}",
                        ]
                    )
        finally:
            if broker is not None:
                broker.down()
    print(
        table(
            [
                "workload",
                "jobs",
                "API latency",
                "in-flight cap",
                "naive jobs/s",
                "service jobs/s",
                "service / naive",
                "ideal jobs/s",
                "service / ideal",
                "service CPU ms/job",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
