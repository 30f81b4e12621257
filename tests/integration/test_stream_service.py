"""The stream service end to end: real Kafka, our real server over HTTP, real artifacts."""

from __future__ import annotations

import itertools
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image

from bgcut_stream.api.models import OutputVariant
from bgcut_stream.events.codec import AvroCodec
from bgcut_stream.events.jobs import ImageJob, InlineSource, UploadedSource
from bgcut_stream.events.results import ImageResult
from bgcut_stream.events.schemas import IMAGE_JOB, bundled
from bgcut_stream.imaging.saliency import SaliencyModel
from bgcut_stream.localstack import wait_for_group
from tests.support.images import encode, sample_photo
from tests.support.server import RunningServer, running_server
from tests.support.stream import StreamHarness, metric, poll_until

pytestmark = pytest.mark.integration

THREE = [
    OutputVariant(variant_name="full"),
    OutputVariant(variant_name="thumb", format="webp", max_resolution=20_000, autocrop=True),
    OutputVariant(variant_name="white", format="jpg", background_color="#FFFFFF"),
]


def tiny(seed: int) -> bytes:
    """A small distinct PNG (so each job has its own content hash)."""
    rng = np.random.default_rng(seed)
    image = np.full((48, 64, 3), 200, np.uint8)
    image[12:36, 20:44] = rng.integers(0, 255, 3, dtype=np.uint8)
    return encode(image)


def server_calls(server: RunningServer, endpoint: str) -> float:
    """Successful calls of ``endpoint`` the server counted."""
    prefix = f'bgcut_server_requests_total{{endpoint="{endpoint}",status="200"}}'
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def server_uploads(server: RunningServer) -> float:
    return server_calls(server, "upload")


@pytest.fixture
def harness(kafka_bootstrap: str, server: RunningServer, tmp_path: Path) -> StreamHarness:
    """Unique topics on the session broker, pointed at a fresh server."""
    return StreamHarness(kafka_bootstrap, server.url, tmp_path / "artifacts")


def test_happy_path_three_variants(harness: StreamHarness, server: RunningServer) -> None:
    """One job, three variants: a SUCCEEDED result whose artifacts are on disk as described."""
    job = ImageJob(
        job_id="job-1",
        source=InlineSource(sample_photo("chelsea"), "cat.png"),
        output_variants=THREE,
        metadata={"tenant": "acme"},
    )
    harness.publish(job)
    with harness.running() as service:
        (result,) = harness.results(1)
        port = service.health.port
        poll_until(lambda: metric(port, 'bgcut_jobs_total{outcome="succeeded"}') == 1)
        assert metric(port, 'bgcut_credits_spent_total{outcome="succeeded"}') == 1.5
    assert result.status == "SUCCEEDED"
    assert result.job_id == "job-1"
    assert result.metadata == {"tenant": "acme"}
    assert result.credits_charged == 1.5
    assert result.upload_reused is False
    assert result.attempts == 2  # one upload and one process call
    assert result.error is None
    by_name = {a.variant_name: a for a in result.artifacts}
    assert set(by_name) == {"full", "thumb", "white"}
    for artifact in result.artifacts:
        path = Path(urlsplit(artifact.location).path)
        assert path.stat().st_size == artifact.bytes
        with Image.open(path) as image:
            assert image.size == (artifact.width, artifact.height)
    assert by_name["full"].content_type == "image/png"
    assert (by_name["full"].width, by_name["full"].height) == (451, 300)
    assert by_name["thumb"].width * by_name["thumb"].height <= 20_000
    assert by_name["white"].content_type == "image/jpeg"
    assert server.balance("test-key") == 1000 - 1.5


def test_slot_seconds_on_metrics_add_up_to_the_jobs_own_times(
    harness: StreamHarness,
) -> None:
    """``bgcut_slot_busy_seconds_total`` is the sum of the jobs' times in their slots (each
    result's ``timings.total_s``, measured inside the slot), so its rate over the cap is the
    share of the cap kept busy; no slot is held once every job is done."""
    harness.publish(
        *[ImageJob(job_id=f"busy-{i}", source=InlineSource(tiny(500 + i))) for i in range(5)]
    )
    with harness.running() as service:
        results = harness.results(5)
        port = service.health.port
        poll_until(lambda: metric(port, "bgcut_jobs_in_flight ") == 0)
        busy = metric(port, "bgcut_slot_busy_seconds_total ")
        limit = metric(port, "bgcut_jobs_in_flight_limit ")
    spent = sum(r.timings.total_s for r in results)
    assert {r.status for r in results} == {"SUCCEEDED"}
    assert spent <= busy <= spent + 0.01 * len(results)
    assert limit == harness.settings.max_in_flight


def test_same_image_is_uploaded_once(harness: StreamHarness, server: RunningServer) -> None:
    """Three jobs with identical bytes and one reprocessing job by unique_filename: one upload."""
    data = tiny(1)
    harness.publish(*[ImageJob(job_id=f"same-{i}", source=InlineSource(data)) for i in range(3)])
    with harness.running():
        first = harness.results(3)
        unique = first[0].unique_filename
        assert unique is not None
        harness.publish(
            ImageJob(
                job_id="again",
                source=UploadedSource(unique),
                output_variants=[OutputVariant(variant_name="again")],
            )
        )
        results = harness.results(4)
    assert {r.status for r in results} == {"SUCCEEDED"}
    assert {r.unique_filename for r in results} == {unique}
    assert sum(not r.upload_reused for r in results) == 1
    assert server_uploads(server) == 1


def test_payment_required_goes_to_its_dlq(
    kafka_bootstrap: str, tmp_path: Path, saliency_model: SaliencyModel
) -> None:
    """A key with too few credits: payment-required DLQ record + FAILED result; others go on."""
    with running_server(tmp_path / "s", saliency_model, keys="poor:1") as server:
        harness = StreamHarness(  # strict order: the costly job meets the 1 credit unspent
            kafka_bootstrap,
            server.url,
            tmp_path / "a",
            api_key="poor",
            partitions=1,
            overrides={"ordering": "partition"},
        )
        harness.publish(
            ImageJob(
                job_id="costly",
                source=InlineSource(tiny(2)),
                output_variants=[OutputVariant(autocrop=True)],
            ),
            ImageJob(job_id="cheap", source=InlineSource(tiny(3))),
        )
        with harness.running() as service:
            results = {r.job_id: r for r in harness.results(2)}
            port = service.health.port
            poll_until(
                lambda: metric(port, 'bgcut_dlq_records_total{reason="payment-required"}') == 1
            )
        (dead,) = harness.dead_letters("payment-required")
    assert results["costly"].status == "FAILED"
    assert results["costly"].error is not None
    assert results["costly"].error.code == 402
    assert results["costly"].error.detail == "Insufficient credits. Required: 1.5, available: 1.0"
    assert results["cheap"].status == "SUCCEEDED"
    headers = dict(dead.headers())
    assert headers["bgcut.dlq.reason"] == b"payment-required"
    assert headers["bgcut.dlq.status"] == b"402"
    assert headers["bgcut.dlq.original.topic"] == harness.settings.jobs_topic.encode()
    assert dead.key() == b"costly"
    decoded = AvroCodec(bundled(IMAGE_JOB)).decode(dead.value())
    assert decoded["job_id"] == "costly"


def test_expired_upload_is_uploaded_again(harness: StreamHarness, server: RunningServer) -> None:
    """When the cached upload expired on the API side, the job re-uploads once and succeeds."""
    data = tiny(4)
    with harness.running():
        harness.publish(ImageJob(job_id="first", source=InlineSource(data)))
        (first,) = harness.results(1)
        assert first.unique_filename is not None
        server.expire(first.unique_filename)
        harness.publish(ImageJob(job_id="second", source=InlineSource(data)))
        results = {r.job_id: r for r in harness.results(2)}
    second = results["second"]
    assert second.status == "SUCCEEDED"
    assert second.unique_filename != first.unique_filename
    assert second.upload_reused is False
    assert server_uploads(server) == 2


def test_unknown_unique_filename_goes_to_not_found(harness: StreamHarness) -> None:
    """A reprocessing job naming an upload that does not exist is dead-lettered as not-found."""
    harness.publish(ImageJob(job_id="ghost", source=UploadedSource("no-such-upload")))
    with harness.running():
        (result,) = harness.results(1)
    assert result.status == "FAILED"
    assert result.error is not None
    assert (result.error.reason, result.error.code) == ("not-found", 404)
    assert len(harness.dead_letters("not-found")) == 1


def test_invalid_jobs_and_garbage_go_to_invalid_and_the_consumer_goes_on(
    harness: StreamHarness, server: RunningServer
) -> None:
    """jpg+transparent, a corrupt image and undecodable bytes are dead-lettered; good jobs pass."""
    codec = AvroCodec(bundled(IMAGE_JOB))
    bad_variant = ImageJob(job_id="jpg-transparent", source=InlineSource(tiny(5))).to_record()
    bad_variant["output_variants"] = [
        {
            "variant_name": "x",
            "max_resolution": 100,
            "format": "jpg",
            "background_color": None,
            "quality": "high",
            "output_compression": 85,
            "autocrop": False,
        }
    ]
    harness.publish_raw(codec.encode(bad_variant), key="jpg-transparent")
    harness.publish_raw(b"\x00garbage that is not avro", key="garbage")
    harness.publish_raw(b"")
    harness.publish(ImageJob(job_id="corrupt-image", source=InlineSource(b"\x89PNG broken")))
    harness.publish(ImageJob(job_id="good", source=InlineSource(tiny(6))))
    with harness.running():
        results = {r.job_id: r for r in harness.results(5)}
    assert results["good"].status == "SUCCEEDED"
    for job_id in ("jpg-transparent", "garbage", "corrupt-image"):
        assert results[job_id].status == "FAILED"
        assert results[job_id].error is not None
        assert results[job_id].error.reason == "invalid"
    assert "transparent background is not possible" in results["jpg-transparent"].error.detail  # type: ignore[union-attr]
    assert results["corrupt-image"].error.detail == "Corrupt or unreadable image"  # type: ignore[union-attr]
    assert len(harness.dead_letters("invalid")) == 4
    assert server.balance("test-key") == 1000 - 1


def test_503_storm_then_recovery_dead_letters_nothing(
    harness: StreamHarness, server: RunningServer
) -> None:
    """Seven 503s in a row on process are outlasted by client and job retries."""
    server.set_faults(script={"process": [503] * 7})
    harness.publish(ImageJob(job_id="stormy", source=InlineSource(tiny(7))))
    with harness.running():
        (result,) = harness.results(1)
    assert result.status == "SUCCEEDED"
    assert result.attempts == 1 + 8  # one upload, seven failed and one good process call
    for reason in ("exhausted", "invalid", "not-found", "payment-required"):
        assert harness.dead_letters(reason, idle_s=1) == []


def test_retries_exhausted_goes_to_exhausted(harness: StreamHarness, server: RunningServer) -> None:
    """A process endpoint that keeps failing ends in the exhausted DLQ after the job budget."""
    server.set_faults(rates={"process": {"500": 1.0}})
    harness.publish(ImageJob(job_id="doomed", source=InlineSource(tiny(8))))
    with harness.running():
        (result,) = harness.results(1)
    assert result.error is not None
    assert (result.error.reason, result.error.code) == ("exhausted", 500)
    assert "after 3 tries" in result.error.detail
    assert len(harness.dead_letters("exhausted")) == 1


def test_bad_key_pauses_without_dead_letters_then_resumes(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """401: not ready, paused, nothing dead-lettered; the job completes once the key works."""
    harness = StreamHarness(kafka_bootstrap, server.url, tmp_path / "a", api_key="late-key")
    harness.publish(ImageJob(job_id="patient", source=InlineSource(tiny(9))))
    with harness.running() as service:
        port = service.health.port
        poll_until(lambda: metric(port, "bgcut_auth_paused") == 1, message="auth pause")
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 503
        assert harness.all_results(idle_s=1) == []
        server.add_credits("late-key", 5)  # the key becomes valid
        (result,) = harness.results(1)
        poll_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200,
            message="ready again",
        )
    assert result.status == "SUCCEEDED"
    for reason in ("exhausted", "invalid", "not-found", "payment-required"):
        assert harness.dead_letters(reason, idle_s=1) == []


def test_rotated_key_file_is_read_again_after_a_401(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """The chart mounts the key as a file: a rotated Secret is picked up without a restart."""
    key_file = tmp_path / "api-key"
    key_file.write_text("revoked-key\n")
    harness = StreamHarness(
        kafka_bootstrap,
        server.url,
        tmp_path / "a",
        api_key="",
        client_overrides={"api_key_file": key_file},
    )
    harness.publish(ImageJob(job_id="rotated", source=InlineSource(tiny(10))))
    with harness.running() as service:
        port = service.health.port
        poll_until(lambda: metric(port, "bgcut_auth_paused") == 1, message="auth pause")
        key_file.write_text("test-key\n")  # the Secret was rotated in place
        (result,) = harness.results(1)
    assert result.status == "SUCCEEDED"
    assert harness.dead_letters("invalid", idle_s=1) == []


def test_sigterm_mid_batch_loses_nothing(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """SIGTERM while jobs are in flight: exit 0 after draining; a restart finishes the rest."""
    server.set_faults(latency_ms=150)
    # 3 at a time: the batch outlasts the first results, and 3 jobs are in flight to drain
    harness = StreamHarness(
        kafka_bootstrap, server.url, tmp_path / "artifacts", overrides={"max_in_flight": 3}
    )
    ids = [f"batch-{i}" for i in range(24)]
    harness.publish(
        *[ImageJob(job_id=i, source=InlineSource(tiny(100 + n))) for n, i in enumerate(ids)]
    )
    proc, _ = harness.spawn(tmp_path / "first.log")
    poll_until(
        lambda: len(harness.all_results(idle_s=0.5)) >= 3, timeout_s=60, message="first results"
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    done_before = {r.job_id for r in harness.all_results(idle_s=1)}
    assert 0 < len(done_before) < len(ids), "SIGTERM should land mid-batch"
    restarted, _ = harness.spawn(tmp_path / "second.log")
    try:
        poll_until(
            lambda: {r.job_id for r in harness.all_results(idle_s=0.5)} >= set(ids),
            timeout_s=120,
            message="all jobs done after restart",
        )
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=60)
    results = harness.all_results(idle_s=1)
    assert {r.job_id for r in results} == set(ids)
    assert all(r.status == "SUCCEEDED" for r in results)
    assert len(results) == len(ids), "drained jobs were committed, so none ran twice"


def test_two_instances_split_partitions_and_process_each_job_once(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """Two processes in one group share six partitions; every job has exactly one result."""
    harness = StreamHarness(kafka_bootstrap, server.url, tmp_path / "a", partitions=6)
    procs: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        procs.append(harness.spawn(tmp_path / "one.log"))
        procs.append(harness.spawn(tmp_path / "two.log"))
        # both hold partitions before the jobs exist (else the first may run them all alone)
        wait_for_group(harness.bootstrap, harness.settings.group_id, members=2)
        ids = [f"split-{i}" for i in range(30)]
        harness.publish(
            *[ImageJob(job_id=i, source=InlineSource(tiny(200 + n))) for n, i in enumerate(ids)]
        )
        poll_until(
            lambda: len(harness.all_results(idle_s=0.5)) >= len(ids),
            timeout_s=120,
            message="all results",
        )
        per_instance = [metric(port, 'bgcut_jobs_total{outcome="succeeded"}') for _, port in procs]
    finally:
        for proc, _ in procs:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in procs:
            proc.wait(timeout=60)
    results = harness.all_results(idle_s=1)
    assert sorted(r.job_id for r in results) == sorted(ids)
    assert all(count > 0 for count in per_instance), per_instance
    assert sum(per_instance) == len(ids)


def test_same_job_id_twice_makes_one_api_call_and_one_result(
    harness: StreamHarness, server: RunningServer
) -> None:
    """An upstream duplicate (same job_id, same key) is skipped: one process call, one result."""
    job = ImageJob(job_id="dup-1", source=InlineSource(tiny(300)))
    harness.publish(job, job)
    with harness.running() as service:
        port = service.health.port
        poll_until(lambda: metric(port, "bgcut_duplicate_jobs_total") == 1, message="skipped")
        (result,) = harness.all_results(idle_s=1)
    assert result.job_id == "dup-1"
    assert result.status == "SUCCEEDED"
    assert server_calls(server, "process") == 1
    assert server.balance("test-key") == 1000 - 1


def test_a_job_committed_before_a_restart_is_never_sent_again(
    harness: StreamHarness, server: RunningServer
) -> None:
    """The done table is restored from its compacted topic: a later duplicate costs nothing."""
    job = ImageJob(job_id="dup-2", source=InlineSource(tiny(301)))
    harness.publish(job)
    with harness.running():
        harness.results(1)
    harness.publish(job, ImageJob(job_id="fresh-2", source=InlineSource(tiny(302))))
    with harness.running() as service:
        port = service.health.port
        poll_until(lambda: metric(port, "bgcut_duplicate_jobs_total") == 1, message="skipped")
        poll_until(lambda: len(harness.all_results(idle_s=0.5)) == 2, message="fresh-2 done")
    assert sorted(r.job_id for r in harness.all_results(idle_s=1)) == ["dup-2", "fresh-2"]
    assert server_calls(server, "process") == 2


def test_at_least_once_mode_publishes_and_commits_without_transactions(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """delivery=at-least-once: results produced, then offsets committed; a restart redoes none."""
    harness = StreamHarness(
        kafka_bootstrap, server.url, tmp_path / "a", overrides={"delivery": "at-least-once"}
    )
    harness.publish(
        *[ImageJob(job_id=f"alo-{i}", source=InlineSource(tiny(310 + i))) for i in range(3)]
    )
    with harness.running():
        harness.results(3)
    harness.publish(ImageJob(job_id="alo-3", source=InlineSource(tiny(313))))
    with harness.running() as service:
        poll_until(lambda: len(harness.all_results(idle_s=0.5)) == 4, message="alo-3 done")
        assert metric(service.health.port, "bgcut_duplicate_jobs_total") == 0, "nothing redone"
    results = harness.all_results(idle_s=1)
    assert sorted(r.job_id for r in results) == ["alo-0", "alo-1", "alo-2", "alo-3"]
    assert server_calls(server, "process") == 4


def test_a_saturated_service_buffers_every_record_and_skips_none(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """At the in-flight cap with tiny buffers (pausing all the time), every job still runs."""
    server.set_faults(latency_ms=30)
    harness = StreamHarness(
        kafka_bootstrap,
        server.url,
        tmp_path / "a",
        partitions=3,
        overrides={"max_in_flight": 2, "partition_buffer": 2},
    )
    ids = [f"busy-{i}" for i in range(40)]
    harness.publish(*[ImageJob(job_id=i, source=InlineSource(tiny(500))) for i in ids])
    with harness.running():
        poll_until(
            lambda: len(harness.all_results(idle_s=0.5)) >= len(ids),
            timeout_s=90,
            message="every job has a result",
        )
    assert sorted(r.job_id for r in harness.all_results(idle_s=1)) == sorted(ids)


def _api_work(result: ImageResult) -> tuple[float, float]:
    """When the job's API work ran: (start, end) in epoch seconds."""
    end = result.completed_at.timestamp()
    return end - result.timings.total_s, end


@pytest.mark.parametrize(
    ("ordering", "per_partition", "keys"),
    [("partition", 1, ["k"] * 8), ("key", 3, ["a", "b", "a", "c", "b", "a", "c", "a"])],
)
def test_caps_and_ordering_hold_with_jobs_handed_over_beyond_them(
    kafka_bootstrap: str,
    server: RunningServer,
    tmp_path: Path,
    ordering: str,
    per_partition: int,
    keys: list[str],
) -> None:
    """More records than the per-partition cap are handed to the event loop (so a finishing
    job's successor starts at once); they still queue for the partition's slots: at most
    ``per_partition`` jobs of a partition call the API at once, a partition's (or a key's) jobs
    run in offset order and never overlap when the rules say one at a time."""
    server.set_faults(latency_ms=150)
    harness = StreamHarness(
        kafka_bootstrap,
        server.url,
        tmp_path / "a",
        partitions=1,
        overrides={
            "max_in_flight": 8,
            "max_in_flight_per_partition": per_partition,
            "ordering": ordering,
        },
    )
    for seq, key in enumerate(keys):
        job = ImageJob(
            job_id=f"cap-{ordering}-{seq}",
            source=InlineSource(tiny(600 + seq)),
            metadata={"seq": str(seq)},
        )
        harness.publish(job, key=key)
    with harness.running():
        results = harness.results(len(keys))
    runs = sorted((_api_work(r), int(r.metadata["seq"])) for r in results)
    assert all(r.status == "SUCCEEDED" for r in results)
    slack = 0.005  # end = the result's completed_at, taken just after the job's own clock

    def at_once(at: float) -> int:
        return sum(1 for (s, e), _ in runs if s <= at < e - slack)

    assert max(at_once(start) for (start, _), _ in runs) <= per_partition
    for key in set(keys):
        mine = [(span, seq) for span, seq in runs if keys[seq] == key]
        assert [seq for _, seq in mine] == sorted(seq for _, seq in mine)  # offset order
        for ((_, end), _), ((start, _), _) in itertools.pairwise(mine):
            assert start >= end - slack  # one at a time
    if per_partition > 1:  # the cap was used: distinct keys did run side by side
        assert max(at_once(start) for (start, _), _ in runs) > 1


def test_defaults_fill_every_slot_from_one_partition_and_keep_each_keys_order(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """With the ordering and per-partition cap left at their defaults (as a default Helm install
    leaves them), one partition's distinct keys take every slot of the cap, while a key's own
    records still run one at a time in offset order."""
    server.set_faults(latency_ms=300)  # a job outlasts the start of all 8 on a slow machine
    cap = 8
    harness = StreamHarness(
        kafka_bootstrap, server.url, tmp_path / "a", partitions=1, overrides={"max_in_flight": cap}
    )
    assert harness.settings.ordering == "key"
    keys = [f"k{i}" for i in range(10)] + ["k0", "k1", "k0"]
    for seq, key in enumerate(keys):
        job = ImageJob(
            job_id=f"fill-{seq}", source=InlineSource(tiny(900 + seq)), metadata={"seq": str(seq)}
        )
        harness.publish(job, key=key)
    with harness.running():
        results = harness.results(len(keys))
    assert all(r.status == "SUCCEEDED" for r in results)
    assert [int(r.metadata["seq"]) for r in results] == list(range(len(keys)))  # offset order
    runs = sorted((_api_work(r), int(r.metadata["seq"])) for r in results)
    slack = 0.005

    def at_once(at: float) -> int:
        return sum(1 for (s, e), _ in runs if s <= at < e - slack)

    assert max(at_once(start) for (start, _), _ in runs) == cap
    for key in set(keys):
        mine = [(span, seq) for span, seq in runs if keys[seq] == key]
        assert [seq for _, seq in mine] == sorted(seq for _, seq in mine)
        for ((_, end), _), ((start, _), _) in itertools.pairwise(mine):
            assert start >= end - slack


def test_keyless_records_run_one_at_a_time_under_the_defaults(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """An upstream that sends no key (a stranger's plain producer) keeps strict partition order
    under the default key order: records without a key count as one key."""
    server.set_faults(latency_ms=100)
    harness = StreamHarness(
        kafka_bootstrap, server.url, tmp_path / "a", partitions=1, overrides={"max_in_flight": 8}
    )
    publisher = harness.publisher
    for seq in range(5):
        job = ImageJob(
            job_id=f"keyless-{seq}",
            source=InlineSource(tiny(950 + seq)),
            metadata={"seq": str(seq)},
        )
        publisher.producer.produce(
            harness.settings.jobs_topic, value=publisher.codec.encode(job.to_record())
        )
    publisher.flush()
    with harness.running():
        results = harness.results(5)
    runs = sorted((_api_work(r), int(r.metadata["seq"])) for r in results)
    assert [seq for _, seq in runs] == list(range(5))
    for ((_, end), _), ((start, _), _) in itertools.pairwise(runs):
        assert start >= end - 0.005  # one at a time


def test_no_partition_waits_behind_another_partitions_backlog(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """Fewer slots than partitions x per-partition cap: records are handed over round-robin,
    so every partition's jobs start early rather than after the first partitions drain."""
    server.set_faults(latency_ms=100)
    partitions, per_partition = 4, 8
    harness = StreamHarness(
        kafka_bootstrap,
        server.url,
        tmp_path / "a",
        partitions=partitions,
        overrides={"max_in_flight": 2, "max_in_flight_per_partition": 2},
    )
    publisher = harness.publisher
    for seq in range(per_partition):
        for partition in range(partitions):
            job = ImageJob(
                job_id=f"fair-{partition}-{seq}",
                source=InlineSource(tiny(700 + seq)),
                metadata={"partition": str(partition)},
            )
            publisher.producer.produce(
                harness.settings.jobs_topic,
                key=job.job_id.encode(),
                value=publisher.codec.encode(job.to_record()),
                partition=partition,
            )
    publisher.flush()
    with harness.running():
        results = harness.results(partitions * per_partition)
    order = [r.metadata["partition"] for r in results]  # as committed
    # every partition has results in the first half (in turn, not after the others drained)
    assert set(order[: len(order) // 2]) == {str(p) for p in range(partitions)}, order
