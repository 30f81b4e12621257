"""Chaos scenarios over real processes: crashes, broker restart, scaling, API storms, poison,
SIGTERM mid-call. After each, a read_committed audit of the results topic: every job exactly one
terminal event, none lost, credits spent <= jobs + in flight at the fault."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from bgcut_stream.api.models import OutputVariant
from bgcut_stream.events.codec import AvroCodec
from bgcut_stream.events.jobs import ImageJob, InlineSource, UploadedSource
from bgcut_stream.events.schemas import IMAGE_JOB, bundled
from bgcut_stream.kafka_local import LocalBroker
from tests.chaos.audit import REPORT, Audit, audit, jobs_redone, wait_for_all
from tests.chaos.conftest import JOBS
from tests.support.images import encode
from tests.support.server import RunningServer
from tests.support.stream import StreamHarness, poll_until

pytestmark = pytest.mark.chaos
IN_FLIGHT = 8  # max_in_flight per instance: jobs started but unfinished at a fault, at most
LOW = [OutputVariant(quality="low")]


def tiny_png() -> bytes:
    return encode(np.full((24, 32, 3), (200, 90, 40), np.uint8))


@pytest.fixture
def harness(broker: LocalBroker, chaos_server: RunningServer, tmp_path: Path) -> StreamHarness:
    """Topics on the scenario's broker; six partitions; jobs reprocess one uploaded image."""
    bootstrap = broker.bootstrap_servers()
    assert bootstrap is not None
    return StreamHarness(
        bootstrap,
        chaos_server.url,
        tmp_path / "artifacts",
        partitions=6,
        overrides={
            "max_in_flight_per_partition": 2,
            "max_in_flight": IN_FLIGHT,
            "partition_buffer": 4,  # backpressure pauses partitions in every scenario
            "drain_timeout_s": 15,
        },
    )


@pytest.fixture
def batch(harness: StreamHarness, chaos_server: RunningServer) -> set[str]:
    """``JOBS`` jobs published before the scenario starts; their job_ids."""
    published = jobs(chaos_server, JOBS)
    harness.publish(*published)
    return {j.job_id for j in published}


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Service processes started by a scenario; all stopped at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def jobs(server: RunningServer, count: int) -> list[ImageJob]:
    """``count`` jobs reprocessing one uploaded image (cheap for the server, 1 credit each)."""
    unique = httpx.post(
        f"{server.url}/v3/remove-bg/upload-image/",
        headers={"Authorization": "Bearer test-key"},
        files={"image": ("t.png", tiny_png())},
    ).json()["unique_filename"]
    return [
        ImageJob(job_id=f"job-{i:05d}", source=UploadedSource(unique), output_variants=LOW)
        for i in range(count)
    ]


def done_count(harness: StreamHarness) -> int:
    return len({r.job_id for r in harness.all_results(idle_s=0.5)})


def start_until(
    harness: StreamHarness, procs: list[subprocess.Popen[bytes]], log: Path, done: int
) -> subprocess.Popen[bytes]:
    """Start an instance and wait until ``done`` jobs have results."""
    proc, _ = harness.spawn(log)
    procs.append(proc)
    poll_until(lambda: done_count(harness) >= done, timeout_s=120, message=f"{done} results")
    return proc


def run_scenario(
    name: str,
    harness: StreamHarness,
    server: RunningServer,
    job_ids: set[str],
    fault: Callable[[], None],
    logs: Path,
    *,
    expect_dead: dict[str, int] | None = None,
) -> Audit:
    """Inject ``fault`` (which returns once the run is disturbed), wait, audit, report.

    Credits: at most one per job, plus the jobs in flight at the fault: those finished but not
    yet committed (they finish again elsewhere: ``jobs_redone`` from the logs) and those started
    but unfinished (at most ``IN_FLIGHT`` per faulted instance).
    """
    balance = server.balance("test-key")
    fault()
    recovery = wait_for_all(harness, job_ids, timeout_s=max(240, JOBS * 0.6))
    spent = balance - server.balance("test-key")
    result = audit(harness, job_ids, spent)
    result.redone = jobs_redone(sorted(logs.glob("*.log")))
    REPORT.append(result.row(name, recovery))
    assert result.lost == []
    assert result.duplicated == []
    assert result.dead_lettered == (expect_dead or {})
    assert result.redone <= result.extra_credits <= result.redone + IN_FLIGHT, (
        f"{result.extra_credits} extra credits, {result.redone} jobs redone"
    )
    return result


def test_kill_9_and_restart(
    harness: StreamHarness,
    chaos_server: RunningServer,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    batch: set[str],
) -> None:
    """SIGKILL mid-run, restart: every job once, only in-flight work redone."""
    chaos_server.set_faults(latency_ms=20)

    def fault() -> None:
        proc = start_until(harness, procs, tmp_path / "a.log", JOBS // 3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        procs.append(harness.spawn(tmp_path / "b.log")[0])

    run_scenario("kill -9 + restart", harness, chaos_server, batch, fault, tmp_path)


def test_broker_restart(
    harness: StreamHarness,
    chaos_server: RunningServer,
    broker: LocalBroker,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    batch: set[str],
) -> None:
    """The broker stops and comes back mid-run; the running service reconnects and finishes."""
    chaos_server.set_faults(latency_ms=20)
    harness.publisher = None  # type: ignore[assignment]  # no producer across the restart

    def fault() -> None:
        start_until(harness, procs, tmp_path / "a.log", JOBS // 3)
        broker.down()
        time.sleep(3)
        broker.up()

    run_scenario("broker stop + restart", harness, chaos_server, batch, fault, tmp_path)
    assert procs[0].poll() is None, "the service kept running through the broker restart"


def test_scale_out_and_in(
    harness: StreamHarness,
    chaos_server: RunningServer,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    batch: set[str],
) -> None:
    """1 -> 3 instances mid-run and back to 1: rebalances with work in flight."""
    chaos_server.set_faults(latency_ms=30)

    def fault() -> None:
        start_until(harness, procs, tmp_path / "a.log", JOBS // 5)
        extra = [harness.spawn(tmp_path / f"{n}.log")[0] for n in ("b", "c")]
        procs.extend(extra)
        poll_until(lambda: done_count(harness) >= JOBS // 2, timeout_s=180, message="half")
        for proc in extra:
            proc.send_signal(signal.SIGTERM)
        for proc in extra:
            assert proc.wait(timeout=60) == 0

    run_scenario("scale 1 -> 3 -> 1", harness, chaos_server, batch, fault, tmp_path)


def test_api_fault_storm(
    harness: StreamHarness,
    chaos_server: RunningServer,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    batch: set[str],
) -> None:
    """30% 503s, latency, and a burst of 429s with Retry-After: retried, nothing dead-lettered."""

    def fault() -> None:
        chaos_server.set_faults(
            latency_ms=40,
            rates={"process": {"503": 0.3}},
            script={"process": [429] * 6},
            retry_after_s=1,
        )
        procs.append(harness.spawn(tmp_path / "a.log")[0])

    run_scenario(
        "API storm: 30% 503, latency, 429 burst",
        harness,
        chaos_server,
        batch,
        fault,
        tmp_path,
    )


def test_poison_events_interleaved(
    harness: StreamHarness,
    chaos_server: RunningServer,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
) -> None:
    """Undecodable bytes, invalid variants and oversized inline images go to invalid, once."""
    codec = AvroCodec(bundled(IMAGE_JOB))
    batch = jobs(chaos_server, JOBS)
    poison_ids: set[str] = set()
    huge = encode(np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    for i, job in enumerate(batch):
        harness.publisher.send(job)
        if i % 10 == 0:
            kind = ("garbage", "variants", "huge")[(i // 10) % 3]
            job_id = f"poison-{kind}-{i}"
            poison_ids.add(job_id)
            if kind == "garbage":
                harness.publisher.send_raw(b"\x00\x01 not avro", key=job_id)
            elif kind == "variants":
                record = ImageJob(job_id=job_id, source=InlineSource(tiny_png())).to_record()
                record["output_variants"] = [{**OutputVariant().model_dump(), "format": "jpg"}]
                harness.publisher.send_raw(codec.encode(record), key=job_id)
            else:
                harness.publisher.send(ImageJob(job_id=job_id, source=InlineSource(huge)))
    harness.publisher.flush()

    def fault() -> None:
        procs.append(harness.spawn(tmp_path / "a.log", BGCUT_MAX_SOURCE_BYTES="100000")[0])

    result = run_scenario(
        "poison events interleaved",
        harness,
        chaos_server,
        {j.job_id for j in batch} | poison_ids,
        fault,
        tmp_path,
        expect_dead={"invalid": len(poison_ids)},
    )
    assert result.jobs == JOBS + len(poison_ids)
    assert len(harness.dead_letters("invalid", idle_s=2)) == len(poison_ids)


def test_sigterm_during_slow_api_call(
    harness: StreamHarness,
    chaos_server: RunningServer,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
) -> None:
    """SIGTERM while calls take 2 s: the drain deadline is honoured, nothing lost or doubled."""
    batch = jobs(chaos_server, JOBS)
    harness.publish(*batch)

    def fault() -> None:
        chaos_server.set_faults(latency_ms=2000)
        proc = start_until(harness, procs, tmp_path / "a.log", 4)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert time.monotonic() - started < harness.settings.drain_timeout_s + 10
        chaos_server.set_faults(latency_ms=20)
        procs.append(harness.spawn(tmp_path / "b.log")[0])

    run_scenario(
        "SIGTERM during slow API calls",
        harness,
        chaos_server,
        {j.job_id for j in batch},
        fault,
        tmp_path,
    )


def test_transactional_upstream_and_kill_9(
    harness: StreamHarness,
    chaos_server: RunningServer,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
) -> None:
    """An exactly-once upstream (5 jobs per transaction, every 7th transaction aborted) and a
    SIGKILL mid-run: committed jobs once each, aborted jobs never, offsets past every gap."""
    codec = AvroCodec(bundled(IMAGE_JOB))
    batch = jobs(chaos_server, JOBS)
    upstream = Producer(
        {
            "bootstrap.servers": harness.bootstrap,
            "transactional.id": f"upstream-{harness.settings.jobs_topic}",
        }
    )
    upstream.init_transactions(30)
    committed: set[str] = set()
    for number, start in enumerate(range(0, len(batch), 5)):
        chunk = batch[start : start + 5]
        upstream.begin_transaction()
        for job in chunk:
            upstream.produce(
                harness.settings.jobs_topic,
                key=job.job_id.encode(),
                value=codec.encode(job.to_record()),
            )
        upstream.flush(30)  # on the broker: an abort leaves aborted records (gaps) behind
        if number % 7 == 6:
            upstream.abort_transaction(30)
        else:
            upstream.commit_transaction(30)
            committed |= {job.job_id for job in chunk}
    chaos_server.set_faults(latency_ms=20)

    def fault() -> None:
        proc = start_until(harness, procs, tmp_path / "a.log", len(committed) // 3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        procs.append(harness.spawn(tmp_path / "b.log")[0])

    run_scenario(
        "transactional upstream + kill -9", harness, chaos_server, committed, fault, tmp_path
    )
    published = {r.job_id for r in harness.all_results(idle_s=1)}
    assert published == committed  # aborted jobs have no terminal event
    ends = {
        p: Consumer(
            {"bootstrap.servers": harness.bootstrap, "group.id": "wm"}
        ).get_watermark_offsets(TopicPartition(harness.settings.jobs_topic, p), timeout=10)[1]
        for p in range(harness.partitions)
    }
    group = Consumer(
        {"bootstrap.servers": harness.bootstrap, "group.id": harness.settings.group_id}
    )
    positions = [TopicPartition(harness.settings.jobs_topic, p) for p in range(harness.partitions)]
    poll_until(
        lambda: {tp.partition: tp.offset for tp in group.committed(positions, timeout=10)} == ends,
        message="committed offsets at the end of every partition",
    )
    group.close()
