"""Pipeline throughput: does the service keep every in-flight slot busy?

A latency-only API stub (``latency_stub.py``: canned answers after a fixed delay, near-zero
CPU) and the local broker; on the same pre-published reprocess jobs (process + download per
variant, 8 partitions, distinct keys), side by side in one run:

1. ``naive``: one job at a time (poll, process, download, commit);
2. ``batch-gather``: the common hand-rolled alternative — poll N records, ``asyncio.gather``
   them with a plain ``httpx.AsyncClient``, commit, repeat (``batch_gather_peer.py``), twice:
   in a fresh venv with only ``httpx`` and ``confluent-kafka`` installed (what its authors
   have) and in the project's venv (our dependency set, sniffio included);
3. ``service``: ``bgcut-stream run`` as a process (exactly-once, key ordering).

ideal jobs/s = in-flight cap / (API latency x sequential calls per job: process, then the
variants' downloads at once). Service CPU is read from /proc; its event-loop lag and GC pauses from
its own ``/metrics`` (``bgcut_event_loop_lag_seconds``, ``bgcut_gc_pause_seconds``); both from
just before the jobs are published until the last result is read. After the issue's grid (a fixed
latency), two rows at 64 in flight whose latency varies per call (lognormal, same mean; see
``VARYING``); then the headline cell as others run it, the service only (``OUTSIDE_CELL``: a
stranger's transactional upstream through a registry, the Helm chart's default settings;
``--outside`` runs only those). Then the scale-out row, and the issue's goals judged on this
run's figures (``pipeline_goals.py``: each goal, this run's value, met or not, and the peer's CPU
that tells this VM's phase). ``--quick`` runs one cell and the scale-out row;
``PIPELINE_BENCH_PROFILE=FILE`` records each service run's first instance with ``py-spy`` (raw).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from bgcut_stream.events.results import ImageResult
from bgcut_stream.localstack import free_port, kafka, wait_for_group, wait_http_ok
from bgcut_stream.registry_local.exceptions import RegistryLocalError
from bgcut_stream.stream.settings import StreamSettings
from bgcut_stream.stream.topics import ensure_topics

sys.path.insert(0, str(Path(__file__).parent))
from chart_defaults import chart_env
from common import cpu_seconds, table
from pipeline_goals import HEADERS as GOAL_HEADERS
from pipeline_goals import THROUGHPUT, Measured, goal_rows, phase_line
from upstreams import PLAIN, VARIANTS, Upstream, confluent_transactional, publish_plain

HERE = Path(__file__).parent
ROOT = HERE.parent
PARTITIONS = 8
SERVICE_COMMAND = (sys.executable, "-m", "bgcut_stream", "run")


@dataclass
class Cell:
    """One point of the grid."""

    in_flight: int
    latency_ms: int  # the mean, with jitter
    variants: int
    jitter: float = 0.0  # lognormal shape of the API's latency per call; 0: fixed

    @property
    def latency(self) -> str:
        """The latency column: ms, and how it varies."""
        return (
            f"{self.latency_ms} (lognormal, sigma {self.jitter})"
            if self.jitter
            else str(self.latency_ms)
        )

    @property
    def key(self) -> tuple[int, int, int]:
        """(in flight, latency ms, variants)."""
        return self.in_flight, self.latency_ms, self.variants

    @property
    def ideal(self) -> float:
        """Jobs/s if every slot were busy all the time (2 sequential API round trips a job)."""
        return self.in_flight / (2 * self.latency_ms / 1000)

    def jobs(self, seconds: float, low: int = 200, high: int = 4000) -> int:
        """How many jobs keep an ideal pipeline busy for about ``seconds``."""
        return int(min(high, max(low, self.ideal * seconds)))


@contextmanager
def stub(latency_ms: int, jitter: float = 0.0) -> Any:
    """The latency-only API on a free port (``jitter``: see ``latency_stub.py``)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "latency_stub.py"),
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
            "--jitter",
            str(jitter),
        ]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(f"{url}/_stats", proc, what="latency stub")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def first_call(url: str) -> float:
    return float(httpx.get(f"{url}/_stats").json()["first_call"] or time.time())


def create_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    """The jobs topic."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)


def read_results(bootstrap: str, topic: str, count: int, timeout_s: float) -> list[Any]:
    """``count`` results (read_committed) with their broker timestamps."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    got: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        got.extend(
            (msg.timestamp()[1] / 1000, msg.value())
            for msg in consumer.consume(500, timeout=0.5)
            if not msg.error()
        )
    consumer.close()
    if len(got) < count:
        raise RuntimeError(f"only {len(got)} of {count} results in {timeout_s}s")
    return got


def drop_topics(bootstrap: str, prefix: str) -> None:
    """Delete a run's topics, so that later runs meet a broker no busier than the first."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})  # no info lines
    names = [t for t in admin.list_topics(timeout=30).topics if t.startswith(prefix)]
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result(60)


def artifact_root(work: Path) -> Path:
    """Artifacts on tmpfs when there is one: the figures are about the pipeline, not the disk
    (this VM's disk adds ~25 ms of metadata latency per output; see the README)."""
    shm = Path("/dev/shm")
    return (shm if shm.is_dir() else work) / f"pipeline-bench-{work.name}"


def grid_settings(cell: Cell) -> dict[str, str]:
    """The service's behaviour in the grid: the cell's cap, an eighth of it a partition, key
    order, WARNING logs."""
    return {
        "BGCUT_MAX_IN_FLIGHT": str(cell.in_flight),
        "BGCUT_MAX_IN_FLIGHT_PER_PARTITION": str(max(1, cell.in_flight // PARTITIONS)),
        "BGCUT_ORDERING": "key",
        "BGCUT_LOG_LEVEL": "WARNING",
    }


def service_env(
    bootstrap: str, api: str, topic: str, port: int, work: Path, settings: Mapping[str, str]
) -> dict[str, str]:
    """The bench's places (broker, topics, API, store, metrics port), then ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BGCUT_")}
    env.update(
        {
            "BGCUT_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "BGCUT_JOBS_TOPIC": topic,
            "BGCUT_RESULTS_TOPIC": f"{topic}.results",
            "BGCUT_UPLOADS_TOPIC": f"{topic}.uploads",
            "BGCUT_GROUP_ID": f"{topic}-service",
            "BGCUT_ARTIFACT_STORE": f"file://{artifact_root(work)}",
            "BGCUT_METRICS_HOST": "127.0.0.1",
            "BGCUT_METRICS_PORT": str(port),
            "BGCUT_API_BASE_URL": api,
            "BGCUT_API_API_KEY": "bench",
            **settings,
        }
    )
    return env


def run_service(
    bootstrap: str,
    api: str,
    cell: Cell,
    count: int,
    work: Path,
    instances: int = 1,
    per_partition: int | None = None,
    partitions: int = PARTITIONS,
    command: Sequence[str] = SERVICE_COMMAND,
    before_publish: Callable[[list[subprocess.Popen[bytes]]], None] | None = None,
    upstream: Upstream = PLAIN,
    settings: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """The service (``instances`` processes of ``command`` in one group) on ``count`` jobs that
    ``upstream`` publishes, with ``settings`` for its behaviour (default: ``grid_settings``;
    what they leave unset, the service decides); ``before_publish`` gets the processes once
    their group has settled, before the jobs exist."""
    topic = f"pipe-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, partitions)
    ensure_topics(
        StreamSettings(
            kafka_bootstrap_servers=bootstrap,
            jobs_topic=topic,
            results_topic=f"{topic}.results",
            uploads_topic=f"{topic}.uploads",
        ),
        partitions=partitions,
    )
    procs, ports = [], []
    for _ in range(instances):
        port = free_port()
        env = service_env(
            bootstrap, api, topic, port, work, grid_settings(cell) if settings is None else settings
        )
        env.update(upstream.env)
        if per_partition is not None:
            env["BGCUT_MAX_IN_FLIGHT_PER_PARTITION"] = str(per_partition)
        if os.environ.get("PIPELINE_BENCH_PROFILE"):
            env["PIPELINE_BENCH_PROFILE"] = os.environ["PIPELINE_BENCH_PROFILE"]
        log = (work / f"{topic}-{port}.log").open("wb")
        procs.append(
            subprocess.Popen(
                list(command),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=work,
            )
        )
        ports.append(port)
    try:
        for proc, port in zip(procs, ports, strict=True):
            try:
                wait_http_ok(f"http://127.0.0.1:{port}/readyz", proc, 120, what="service")
            except Exception:
                print((work / f"{topic}-{port}.log").read_text()[-3000:], file=sys.stderr)
                raise
        wait_for_group(bootstrap, f"{topic}-service", instances)
        stalls0 = stall_samples(ports)  # its CPU is not the jobs'
        if before_publish is not None:
            before_publish(procs)
        cpu0 = sum(cpu_seconds(p.pid) for p in procs)  # the service starts on the first record
        # the group is settled: no rebalance
        publish_s = upstream.publish(bootstrap, topic, count, cell.variants)
        profile = os.environ.get("PIPELINE_BENCH_PROFILE")
        spy = (
            subprocess.Popen(
                [
                    shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy",
                    "record",
                    "-p",
                    str(procs[0].pid),
                    "-f",
                    "raw",
                    "-o",
                    profile,
                    "-d",
                    "10",
                    "--rate",
                    os.environ.get("PIPELINE_BENCH_PROFILE_RATE", "100"),
                    "--threads",
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if profile
            else None
        )
        results = read_results(bootstrap, f"{topic}.results", count, timeout_s=600)
        cpu1 = sum(cpu_seconds(p.pid) for p in procs)
        stalls = stall_figures(stalls0, stall_samples(ports), count)
        if spy is not None:
            spy.wait(60)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
        shutil.rmtree(artifact_root(work), ignore_errors=True)
    drop_topics(bootstrap, topic)
    start = first_call(api)
    end = max(ts for ts, _ in results)
    results_topic = f"{topic}.results"
    timings = [
        ImageResult.from_record(upstream.decode(results_topic, v)).timings for _, v in results
    ]
    return {
        "jobs_s": count / max(1e-6, end - start),
        # the service's own metric over the same span: its slots' busy share (no job holds a
        # slot before the first API call or after its result is published)
        "busy_pct": 100 * stalls.pop("slot_s") / (stalls.pop("slots") * max(1e-6, end - start)),
        "cpu_ms": 1000 * (cpu1 - cpu0) / count,
        "job_ms": 1000 * statistics.fmean(t.total_s for t in timings),
        "process_ms": 1000 * statistics.fmean(t.process_s for t in timings),
        "download_ms": 1000 * statistics.fmean(t.download_s for t in timings),
        "publish_jobs_s": count / max(1e-6, publish_s),
        **stalls,
    }


def stall_samples(ports: list[int]) -> dict[str, float]:
    """The services' event-loop lag, GC and slot samples (``/metrics``), summed over instances."""
    totals: dict[str, float] = {}
    for port in ports:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith("bgcut_event_loop_lag_seconds"):
                    key = sample.name + sample.labels.get("le", "")
                elif sample.name in (
                    "bgcut_gc_pause_seconds_sum",
                    "python_gc_objects_collected_total",
                    "bgcut_slot_busy_seconds_total",
                    "bgcut_jobs_in_flight_limit",
                ):
                    key = sample.name  # all generations together
                else:
                    continue
                totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def stall_figures(before: dict[str, float], after: dict[str, float], jobs: int) -> dict[str, float]:
    """Between two samplings: the loop's lag (samples, mean, and the bound of the highest bucket
    with a sample: its maximum, to a bucket), GC pause time and objects the GC freed per job,
    the slot-seconds the jobs held and the slots there were (the instances' caps together)."""
    delta = {key: after.get(key, 0.0) - before.get(key, 0.0) for key in after}
    samples = delta["bgcut_event_loop_lag_seconds_count"]
    bounds = sorted(
        (float(key.removeprefix("bgcut_event_loop_lag_seconds_bucket")), value)
        for key, value in delta.items()
        if key.startswith("bgcut_event_loop_lag_seconds_bucket")
    )
    highest = next((bound for bound, cum in bounds if samples and cum >= samples), float("nan"))
    return {
        "lag_samples": samples,
        "lag_mean_ms": 1000 * delta["bgcut_event_loop_lag_seconds_sum"] / samples
        if samples
        else float("nan"),
        "lag_max_ms": 1000 * highest,
        "gc_ms": 1000 * delta["bgcut_gc_pause_seconds_sum"] / jobs,
        "gc_freed": delta["python_gc_objects_collected_total"] / jobs,
        "slot_s": delta["bgcut_slot_busy_seconds_total"],
        "slots": after["bgcut_jobs_in_flight_limit"],
    }


PEER_VENV = ROOT / ".bgcut" / "bench-peer-venv"
PEER_PACKAGES = ("httpx", "confluent-kafka")


def peer_python() -> tuple[str | None, str]:
    """The interpreter of a fresh venv with only ``pip install httpx confluent-kafka`` in it.

    That is what a team writing the batch-gather consumer starts from (today's httpx pulls an
    anyio that no longer needs sniffio, which httpcore then looks for on every request; this
    project depends on sniffio). Returns (python, "") or (None, why not).
    """
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES],
                check=True,
                timeout=600,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            shutil.rmtree(PEER_VENV, ignore_errors=True)
            return None, f"could not build the peer venv ({exc})"
    return str(python), ""


def run_peer(
    bootstrap: str, api: str, cell: Cell, count: int, batch: int, python: str
) -> dict[str, Any]:
    """``batch_gather_peer.py`` under ``python``: ``batch`` = 1 naive, else poll/gather/commit."""
    topic = f"peer-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    publish_plain(bootstrap, topic, count, cell.variants)
    variants = json.dumps([v.model_dump(mode="json") for v in VARIANTS[cell.variants]])
    done = subprocess.run(
        [
            python,
            str(HERE / "batch_gather_peer.py"),
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--api",
            api,
            "--count",
            str(count),
            "--batch",
            str(batch),
            "--variants",
            variants,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    drop_topics(bootstrap, topic)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def peer_jobs(cell: Cell, count: int) -> int:
    """Jobs for a peer run: whole batches (a partial last batch would cost a full round), at
    least 4 of them and about 800 jobs, at most the service's count."""
    batches = max(4, -(-800 // cell.in_flight))
    return min(count // cell.in_flight, batches) * cell.in_flight


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one cell: 64 in flight, 100 ms")
    parser.add_argument(
        "--varying", action="store_true", help="only the rows whose latency varies per call"
    )
    parser.add_argument(
        "--outside",
        action="store_true",
        help="only the rows run as others would: a stranger's upstream, the chart's defaults",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="ideal run time per cell")
    parser.add_argument(
        "--reps",
        type=int,
        default=3,
        help="runs of the goal cells (64/100 ms, 256/400 ms) and of cells under 600 jobs",
    )
    args = parser.parse_args()
    grid = (
        [Cell(64, 100, 1)]
        if args.quick
        else []
        if args.outside
        else VARYING
        if args.varying
        else [Cell(f, lat, v) for v in (1, 3) for lat in (50, 100, 400) for f in (16, 64, 256)]
        + VARYING
    )
    fresh, why = peer_python()
    if fresh is None:
        print(f"batch-gather in a fresh venv: n/a, {why}", file=sys.stderr)
    headers = [
        "in flight", "API latency ms", "variants", "jobs", "ideal jobs/s",
        "naive jobs/s", "batch-gather jobs/s (fresh venv)", "batch-gather jobs/s (project venv)",
        "service runs", "service jobs/s", "service % of ideal",
        "service slots busy % (its own metric)",
        "service ÷ batch-gather (fresh venv)",
        "service ÷ batch-gather (project venv)", "service CPU ms/job",
        "batch-gather CPU ms/job (fresh / project venv)",
        "service CPU ÷ batch-gather CPU (project venv)", "service mean job ms",
        "API time per job ms", "service loop lag ms, mean / max bucket (samples)",
        "service GC pause ms/job (objects freed/job)",
    ]  # fmt: skip
    rows = []
    measured: dict[tuple[int, int, int], Measured] = {}  # fixed-latency cells, for the goals
    peer_versions: dict[str, dict[str, str]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp,
        kafka(Path(tmp) / "kafka") as broker,  # a fresh broker: no topics left from other runs
    ):
        work = Path(tmp)
        for cell in grid:
            count = cell.jobs(args.seconds)
            several = cell.key in GOAL_CELLS or cell.jitter or count < FEW_JOBS
            reps = args.reps if several else 1
            jobs = peer_jobs(cell, count)
            services: list[dict[str, Any]] = []
            peer_runs: dict[str, list[dict[str, Any]]] = {}
            for _ in range(reps):  # interleaved, so that drift hits every contender alike
                with stub(cell.latency_ms, cell.jitter) as api:
                    services.append(run_service(broker.bootstrap, api, cell, count, work))
                for name, python in (("fresh", fresh), ("project", sys.executable)):
                    if python is None:
                        continue
                    with stub(cell.latency_ms, cell.jitter) as api:
                        run = run_peer(broker.bootstrap, api, cell, jobs, cell.in_flight, python)
                        peer_runs.setdefault(name, []).append(run)
            service = median_of(services)
            peers = {name: median_of(runs) for name, runs in peer_runs.items()}
            with stub(cell.latency_ms, cell.jitter) as api:
                naive = run_peer(
                    broker.bootstrap, api, cell, max(10, int(2000 / cell.latency_ms)), 1,
                    fresh or sys.executable,
                )  # fmt: skip

            peer_versions.update({name: runs[0]["versions"] for name, runs in peer_runs.items()})
            if not cell.jitter:
                measured[cell.key] = Measured(cell.ideal, service, peers)
            row = row_of(cell, count, naive, peers, service)
            rows.append(row)
            print(json.dumps(dict(zip(headers, row, strict=True))), flush=True)
        outside = (
            []
            if args.quick or args.varying
            else outside_rows(broker.bootstrap, work, args.reps, args.seconds)
        )
        if args.varying or args.outside:
            scale = None
        else:
            scale = Cell(64, 400, 1)
            count = scale.jobs(args.seconds, low=300) * 3
            with stub(scale.latency_ms) as api:
                one = run_service(broker.bootstrap, api, scale, count, work, 1, scale.in_flight, 12)
            with stub(scale.latency_ms) as api:
                three = run_service(
                    broker.bootstrap, api, scale, count, work, 3, scale.in_flight, 12
                )
    if rows:
        print("\n" + table(headers, rows))
    if outside:
        cell = OUTSIDE_CELL
        print(
            f"\nAs others run it, the service only, {cell.latency_ms} ms, {cell.variants} "
            "variant, runs interleaved:\n"
        )
        print(table(OUTSIDE_HEADERS, outside))
    for name, versions in peer_versions.items():
        print(f"\nbatch-gather, {name} venv: {versions}")
    if scale is None:
        return
    print(
        f"\nScale-out, {scale.in_flight} in flight each, {scale.latency_ms} ms, 12 partitions, "
        f"{count} jobs published once the group settled: "
        f"1 instance {one['jobs_s']:.1f} jobs/s, 3 instances {three['jobs_s']:.1f} jobs/s, "
        f"ratio {three['jobs_s'] / one['jobs_s']:.2f}x"
    )
    print("\nGoals (issue 13), in this run:\n")
    print(table(GOAL_HEADERS, goal_rows(measured, three["jobs_s"] / one["jobs_s"])))
    print("\n" + phase_line(measured))


GOAL_CELLS = {key for key, _floor in THROUGHPUT}  # the goal cells: each run --reps times
# A cell of fewer jobs runs --reps times too: 200 jobs at 16 in flight, 400 ms are ~10 s, and the
# same code measured 1.42-1.63 ms of CPU a job there from one run to the next (2026-12-03).
FEW_JOBS = 600
# Beyond the grid (fixed latency): the ratio cells again with a latency that varies per
# call, as a real API's does; a gathered batch then waits for its slowest call.
VARYING = [Cell(64, 100, 1, jitter=0.5), Cell(64, 400, 1, jitter=0.5)]


# Outside the grid, the headline cell as others run it, interleaved with ours: its jobs from an
# upstream this project did not write (``upstreams.py``: Confluent's serializer through a
# registry, in transactions), and the service with a default Helm install's settings
# (``chart_defaults.py``), whose ideal counts the slots its ordering lets it fill.
OUTSIDE_CELL = Cell(64, 100, 1)
OUTSIDE_HEADERS = [
    "case", "jobs", "ideal jobs/s (slots it can fill)", "upstream publish rate jobs/s",
    "service runs", "service jobs/s", "service % of ideal", "service slots busy % (of its cap)",
    "service CPU ms/job", "service mean job ms",
]  # fmt: skip


@dataclass(frozen=True)
class Case:
    """A row outside the grid: its cell (``in_flight``: the slots it can fill), its jobs'
    upstream and the service's behaviour settings (None: the grid's)."""

    name: str
    cell: Cell
    upstream: Upstream = PLAIN
    settings: Mapping[str, str] | None = None


def chart_case(env: Mapping[str, str]) -> Case:
    """The chart's defaults on the bench's 8 partitions and distinct keys: exactly ``env``, what
    it leaves unset decided by the service as it would be in the pod. Its ideal counts the
    slots the ordering can fill: partitions x the per-partition cap, at most the cap."""
    per_partition = env.get("BGCUT_MAX_IN_FLIGHT_PER_PARTITION")
    resolved = StreamSettings.model_construct(  # env as given: no validation, no os.environ
        ordering=env["BGCUT_ORDERING"],
        max_in_flight=int(env["BGCUT_MAX_IN_FLIGHT"]),
        max_in_flight_per_partition=None if per_partition is None else int(per_partition),
    )
    cap, per = resolved.max_in_flight, resolved.per_partition_cap
    fillable = min(cap, PARTITIONS * per)
    name = (
        f"Helm chart defaults: {resolved.ordering} order, {per} a partition, cap {cap}, "
        f"{env.get('BGCUT_LOG_LEVEL', 'INFO')} logs ({PARTITIONS} partitions: {fillable} slots)"
    )
    cell = OUTSIDE_CELL
    return Case(name, Cell(fillable, cell.latency_ms, cell.variants), settings=env)


def outside_rows(bootstrap: str, work: Path, reps: int, seconds: float) -> list[list[str]]:
    """The service on ``OUTSIDE_CELL`` as we run it and as others would, runs interleaved; a
    case that cannot run here (no registry, no helm) says why and is left out."""
    cases = [Case(PLAIN.name, OUTSIDE_CELL)]
    runs: dict[str, list[dict[str, Any]]] = {}
    with ExitStack() as stack:
        try:
            stranger = stack.enter_context(confluent_transactional(work))
            cases.append(Case(stranger.name, OUTSIDE_CELL, stranger))
        except RegistryLocalError as exc:
            print(f"upstream row: n/a, the registry did not start ({exc})", file=sys.stderr)
        env, why = chart_env()
        if env is None:
            print(f"chart-defaults row: n/a, {why}", file=sys.stderr)
        else:
            cases.append(chart_case(env))
        for _ in range(reps):
            for case in cases:
                count = case.cell.jobs(seconds)
                with stub(case.cell.latency_ms) as api:
                    run = run_service(
                        bootstrap, api, case.cell, count, work,
                        upstream=case.upstream, settings=case.settings,
                    )  # fmt: skip
                runs.setdefault(case.name, []).append(run)
    rows = []
    for case in cases:
        service = median_of(runs[case.name])
        ideal = case.cell.ideal
        row = [
            case.name, str(case.cell.jobs(seconds)), fmt(ideal), fmt(service["publish_jobs_s"], 0),
            runs_of(service), fmt(service["jobs_s"]), f"{100 * service['jobs_s'] / ideal:.0f} %",
            f"{service['busy_pct']:.0f} %", fmt(service["cpu_ms"], 2), fmt(service["job_ms"], 0),
        ]  # fmt: skip
        rows.append(row)
    return rows


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over ``runs``, with the spread of jobs/s and CPU kept."""
    out: dict[str, Any] = {
        key: statistics.median(r[key] for r in runs)
        for key, value in runs[0].items()
        if isinstance(value, float | int)
    }
    out["runs"] = len(runs)
    out["spread"] = {
        key: (min(r[key] for r in runs), max(r[key] for r in runs)) for key in ("jobs_s", "cpu_ms")
    }
    return out


def runs_of(result: dict[str, Any]) -> str:
    """How many runs a figure is the median of, and their range."""
    if result["runs"] == 1:
        return "1"
    (j0, j1), (c0, c1) = result["spread"]["jobs_s"], result["spread"]["cpu_ms"]
    return f"median of {result['runs']} (jobs/s {j0:.0f}-{j1:.0f}, CPU {c0:.2f}-{c1:.2f})"


def lag_of(service: dict[str, Any]) -> str:
    """The loop-lag cell: mean / highest bucket (samples), or n/a without a sample."""
    if not service["lag_samples"]:
        return "n/a (0 samples)"
    mean, highest = fmt(service["lag_mean_ms"], 1), fmt(service["lag_max_ms"], 0)
    return f"{mean} / ≤ {highest} ({service['lag_samples']:.0f})"


def row_of(
    cell: Cell,
    count: int,
    naive: dict[str, Any],
    peers: dict[str, dict[str, Any]],
    service: dict[str, float],
) -> list[str]:
    """One line of the table."""

    def peer(name: str, key: str, digits: int = 1) -> str:
        return fmt(peers[name][key], digits) if name in peers else "n/a"

    def ratio(name: str) -> str:
        return f"{service['jobs_s'] / peers[name]['jobs_s']:.2f}x" if name in peers else "n/a"

    return [
        str(cell.in_flight), cell.latency, str(cell.variants), str(count),
        fmt(cell.ideal), fmt(naive["jobs_s"]), peer("fresh", "jobs_s"), peer("project", "jobs_s"),
        runs_of(service), fmt(service["jobs_s"]), f"{100 * service['jobs_s'] / cell.ideal:.0f} %",
        f"{service['busy_pct']:.0f} %",
        ratio("fresh"), ratio("project"), fmt(service["cpu_ms"], 2),
        f"{peer('fresh', 'cpu_ms', 2)} / {peer('project', 'cpu_ms', 2)}",
        fmt(service["cpu_ms"] / peers["project"]["cpu_ms"], 2) if "project" in peers else "n/a",
        fmt(service["job_ms"], 0), str(2 * cell.latency_ms),
        lag_of(service),
        f"{fmt(service['gc_ms'], 3)} ({fmt(service['gc_freed'], 1)})",
    ]  # fmt: skip


if __name__ == "__main__":
    main()
