"""A JVM downstream reads the service's results: Kafka's own Java consumer, read_committed.

The results are produced in transactions and compressed (lz4, chosen for its CPU: README item 9);
a downstream on the JVM must see each committed result once, its Avro bytes intact.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from bgcut_stream.events.jobs import ImageJob, InlineSource
from bgcut_stream.events.results import ImageResult
from bgcut_stream.kafka_local.broker import default_cache_dir
from bgcut_stream.kafka_local.jars import resolve_jars
from tests.integration.test_stream_service import tiny
from tests.support.server import RunningServer
from tests.support.stream import StreamHarness

pytestmark = pytest.mark.integration
READER = Path(__file__).parents[1] / "support" / "java" / "ReadResults.java"


def test_kafkas_java_consumer_reads_every_result_intact(
    kafka_bootstrap: str, server: RunningServer, tmp_path: Path
) -> None:
    java = shutil.which("java")
    if java is None:  # only with an external cluster (KAFKA_BOOTSTRAP_SERVERS): ours runs on Java
        pytest.skip("java not found on PATH: no JVM to run Kafka's Java consumer on")
    libs = resolve_jars(default_cache_dir())  # kafka-clients and its codecs, from Maven Central
    harness = StreamHarness(kafka_bootstrap, server.url, tmp_path / "artifacts")
    jobs = [ImageJob(job_id=f"jvm-{i}", source=InlineSource(tiny(9100 + i))) for i in range(4)]
    harness.publish(*jobs)
    with harness.running():
        expected = {r.job_id: r for r in harness.results(len(jobs))}
    read = subprocess.run(
        [
            java,
            "-cp",
            f"{libs}/*",
            str(READER),
            kafka_bootstrap,
            harness.settings.results_topic,
            f"jvm-{uuid.uuid4().hex[:8]}",
            str(len(jobs)),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert read.returncode == 0, read.stderr[-2000:]
    seen: dict[str, ImageResult] = {}
    for line in read.stdout.splitlines():
        key, value = line.split(" ", 1)
        result = ImageResult.from_record(harness.codec.decode(base64.b64decode(value)))
        assert key == result.job_id
        assert key not in seen, f"{key} read twice"
        seen[key] = result
    assert set(seen) == {job.job_id for job in jobs}
    for job_id, result in seen.items():
        assert result.status == "SUCCEEDED"
        assert result == expected[job_id]
