"""Real-world topics and failures: transactional upstreams, compaction, crashes, replay, ids.

Every committed job ends in exactly one terminal event (a result, plus a dead letter when it
failed); the group's committed offsets reach the end of the topic; nothing is charged twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from bgcut_stream.events.codec import AvroCodec
from bgcut_stream.events.jobs import ImageJob, InlineSource
from bgcut_stream.events.schemas import IMAGE_JOB, bundled
from bgcut_stream.imaging.saliency import SaliencyModel
from bgcut_stream.stream.artifacts import artifact_key
from tests.integration.test_stream_service import tiny
from tests.support.server import RunningServer, running_server
from tests.support.stream import StreamHarness, poll_until

pytestmark = pytest.mark.integration
JOB_CODEC = AvroCodec(bundled(IMAGE_JOB))


def committed_offsets(harness: StreamHarness) -> dict[int, int]:
    """The group's committed offset per partition of the jobs topic."""
    consumer = Consumer(
        {"bootstrap.servers": harness.bootstrap, "group.id": harness.settings.group_id}
    )
    try:
        parts = [TopicPartition(harness.settings.jobs_topic, p) for p in range(harness.partitions)]
        return {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)}
    finally:
        consumer.close()


def end_offsets(harness: StreamHarness) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": harness.bootstrap, "group.id": "watermarks"})
    try:
        return {
            p: consumer.get_watermark_offsets(
                TopicPartition(harness.settings.jobs_topic, p), timeout=10
            )[1]
            for p in range(harness.partitions)
        }
    finally:
        consumer.close()


def publish_transactionally(harness: StreamHarness, count: int, abort_every: int) -> set[str]:
    """One job per transaction, every ``abort_every``-th aborted (as Kafka Streams/Flink do).

    Returns the job_ids of the committed transactions.
    """
    producer = Producer(
        {
            "bootstrap.servers": harness.bootstrap,
            "transactional.id": f"upstream-{harness.settings.jobs_topic}",
        }
    )
    producer.init_transactions(30)
    committed = set()
    for i in range(count):
        job = ImageJob(job_id=f"tx-{i}", source=InlineSource(tiny(7000 + i)))
        producer.begin_transaction()
        producer.produce(
            harness.settings.jobs_topic,
            key=job.job_id.encode(),
            value=JOB_CODEC.encode(job.to_record()),
            partition=i % harness.partitions,
        )
        producer.flush(30)  # the record is on the broker: an abort leaves it behind, aborted
        if i % abort_every == abort_every - 1:
            producer.abort_transaction(30)
        else:
            producer.commit_transaction(30)
            committed.add(job.job_id)
    return committed


def test_transactional_upstream_with_aborts_never_stalls(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """Gaps from commit markers and aborted records: each committed job one result, aborted
    jobs none, the group's committed offsets reach the end of the topic."""
    harness = StreamHarness(kafka_bootstrap, server.url, tmp_path / "a", partitions=2)
    wanted = publish_transactionally(harness, count=14, abort_every=7)
    ends = end_offsets(harness)
    assert sum(ends.values()) > 2 * len(wanted)  # markers and aborted records: real gaps
    with harness.running():
        results = harness.results(len(wanted))
        poll_until(lambda: committed_offsets(harness) == ends, message="offsets at the end")
        late = harness.all_results(idle_s=2)
    assert Counter(r.job_id for r in late) == Counter(dict.fromkeys(wanted, 1))
    assert {r.status for r in results} == {"SUCCEEDED"}


def test_compacted_jobs_topic_with_deleted_keys(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """A compacted jobs topic whose deleted keys were cleaned away: gaps, tombstones skipped."""
    harness = StreamHarness(kafka_bootstrap, server.url, tmp_path / "a", partitions=1)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topic = harness.settings.jobs_topic
    config = {
        "cleanup.policy": "compact",
        "segment.ms": "100",
        "min.cleanable.dirty.ratio": "0.001",
        "delete.retention.ms": "0",
        "min.compaction.lag.ms": "0",
    }
    entries = [
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
        for name, value in config.items()
    ]
    resource = ConfigResource("topic", topic, incremental_configs=entries)
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    keep = {f"keep-{i}" for i in range(4)}
    for i in range(8):
        job_id = f"keep-{i // 2}" if i % 2 == 0 else f"gone-{i}"
        job = ImageJob(job_id=job_id, source=InlineSource(tiny(8000 + i)))
        producer.produce(topic, key=job_id.encode(), value=JOB_CODEC.encode(job.to_record()))
        producer.flush(10)
        time.sleep(0.15)  # a segment each
    for i in range(1, 8, 2):
        producer.produce(topic, key=f"gone-{i}".encode(), value=None)  # delete
        producer.flush(10)
        time.sleep(0.15)
    # one more job rolls the last segment, so the cleaner may compact what is before it
    last = ImageJob(job_id="keep-last", source=InlineSource(tiny(8100)))
    producer.produce(topic, key=b"keep-last", value=JOB_CODEC.encode(last.to_record()))
    producer.flush(10)
    keep.add("keep-last")

    def compacted() -> bool:
        """Every deleted job's record is cleaned away (a cleaner pass may take only the first
        segments: then a deleted job is still a job in the log, and the service runs it)."""
        reader = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"{topic}-check"})
        reader.assign([TopicPartition(topic, 0, 0)])
        offsets, deadline, deleted_left = [], time.monotonic() + 5, False
        while time.monotonic() < deadline:
            msg = reader.poll(0.3)
            if msg is None:
                break
            if not msg.error():
                offsets.append(msg.offset())
                deleted_left |= (msg.key() or b"").startswith(b"gone-") and msg.value() is not None
        reader.close()
        return bool(offsets) and len(offsets) < offsets[-1] + 1 and not deleted_left

    try:
        poll_until(compacted, timeout_s=60, message="log cleaner compacted the jobs topic")
    except AssertionError:
        pytest.skip("the broker's log cleaner did not run within 60 s")
    ends = end_offsets(harness)
    with harness.running():
        results = harness.results(len(keep))
        poll_until(lambda: committed_offsets(harness) == ends, message="offsets at the end")
        late = harness.all_results(idle_s=2)
    assert {r.job_id for r in results} <= keep
    assert Counter(r.job_id for r in late) == Counter(dict.fromkeys(keep, 1))
    assert harness.dead_letters("invalid") == []  # tombstones are deletions, not bad jobs


def test_unexpected_failure_becomes_an_internal_terminal_event(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    """A job whose artifact cannot be written (a file blocks its folder) is retried, then
    ends as FAILED/internal with a dead letter; the jobs after it in its partition succeed."""
    root = tmp_path / "a"
    root.mkdir()
    harness = StreamHarness(kafka_bootstrap, server.url, root, partitions=1)
    blocked = root / artifact_key("blocked", "default", "png").split("/")[0]
    blocked.write_bytes(b"not a folder")  # mkdir of the job's folder fails: an OSError
    harness.publish(
        ImageJob(job_id="blocked", source=InlineSource(tiny(9001))),
        *(ImageJob(job_id=f"after-{i}", source=InlineSource(tiny(9002 + i))) for i in range(2)),
    )
    with harness.running():
        results = {r.job_id: r for r in harness.results(3)}
        letters = harness.dead_letters("internal")
        ends = end_offsets(harness)
        poll_until(lambda: committed_offsets(harness) == ends, message="offsets at the end")
    failed = results["blocked"]
    assert failed.status == "FAILED"
    assert failed.error is not None
    assert failed.error.reason == "internal"
    assert failed.error.detail.startswith(("FileExistsError", "NotADirectoryError"))
    assert results["after-0"].status == results["after-1"].status == "SUCCEEDED"
    assert len(letters) == 1
    headers = dict(letters[0].headers() or [])
    assert headers["bgcut.dlq.reason"] == b"internal"
    assert server.balance("test-key") == 1000 - 3  # process charged once per job, not per try


def test_payment_required_then_credits_then_replay_succeeds_once(
    kafka_bootstrap: str, tmp_path: Path, saliency_model: SaliencyModel
) -> None:
    """402 → credits added → `dlq replay` → SUCCEEDED for each, charged once; a SUCCEEDED job
    published again costs nothing."""
    with running_server(tmp_path / "s", saliency_model, keys="poor:0") as server:
        harness = StreamHarness(
            kafka_bootstrap, server.url, tmp_path / "a", api_key="poor", partitions=1
        )
        jobs = [
            ImageJob(job_id=f"broke-{i}", source=InlineSource(tiny(9100 + i))) for i in range(3)
        ]
        harness.publish(*jobs)
        with harness.running():
            first = harness.results(3)
            assert {r.status for r in first} == {"FAILED"}
            assert len(harness.dead_letters("payment-required")) == 3
            server.add_credits("poor", 10)
            env = {**os.environ, **harness.env(0)}
            replay = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bgcut_stream",
                    "dlq",
                    "replay",
                    "--from",
                    harness.settings.dlq_topic("payment-required"),
                    "--idle-timeout-s",
                    "3",
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert replay.returncode == 0, replay.stderr
            assert "replayed 3" in replay.stdout
            second = harness.results(6)[3:]
            assert {r.status for r in second} == {"SUCCEEDED"}
            assert server.balance("poor") == 10 - 3
            harness.publish(jobs[0])  # already SUCCEEDED: skipped, free
            poll_until(lambda: _skipped(harness), message="duplicate skipped")
            assert server.balance("poor") == 10 - 3
        assert len(harness.all_results()) == 6


def _skipped(harness: StreamHarness) -> bool:
    return committed_offsets(harness) == end_offsets(harness)


HOSTILE_IDS = [
    "..",
    ".",
    "../../x",
    "a/b",
    "a_b",
    "a\\b",
    "nul\x00byte",
    "x" * 10_000,
    "ünïcødé/💥",
    "/abs/path",
    "~root",
]


def test_hostile_job_ids_map_to_distinct_artifacts_inside_the_root(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    root = tmp_path / "a"
    harness = StreamHarness(kafka_bootstrap, server.url, root, partitions=1)
    harness.publish(
        *(
            ImageJob(job_id=job_id, source=InlineSource(tiny(9200 + i)))
            for i, job_id in enumerate(HOSTILE_IDS)
        ),
        key="same",
    )
    with harness.running():
        results = harness.results(len(HOSTILE_IDS))
    assert {r.status for r in results} == {"SUCCEEDED"}, [r.error for r in results]
    paths = [Path(unquote(urlsplit(r.artifacts[0].location).path)) for r in results]
    assert len(set(paths)) == len(HOSTILE_IDS)
    for path in paths:
        assert path.resolve().is_relative_to(root.resolve())
        assert path.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "server"]  # nothing outside


def test_artifact_keys_are_safe_for_any_id() -> None:
    """Unit-level companion: keys never climb, never start at the root, never collide."""
    keys = {artifact_key(job_id, "..", "png") for job_id in HOSTILE_IDS}
    assert len(keys) == len(HOSTILE_IDS)
    for key in keys:
        assert not key.startswith("/")
        assert ".." not in key.split("/")
        assert "\x00" not in key
        assert len(key) < 200
