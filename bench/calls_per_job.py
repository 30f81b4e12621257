"""Function calls per job on the service's event loop: a job's work, free of this VM's drift.

CPU ms per job on this VM drifts up to 2x within an hour (README, Benchmarks), so a small saving
cannot be seen in it between two runs. The number of calls the event loop makes per job does not
drift: ``pipeline_bench``'s set-up (latency stub, local broker, reprocess jobs, 8 partitions,
key ordering), with the service started as ``profiled_service.py``, whose cProfile runs on the
main thread (the event loop's) from just before the jobs are published until the service exits
(its shutdown included).
Each cell prints calls per job by who made them: our code (the transport under httpx included),
httpx, aiohttp, asyncio (with selectors), other Python, and functions written in C (builtins,
extension methods). cProfile slows the service about 2x, so this run's jobs/s and CPU are not
figures.

    python bench/calls_per_job.py [--cells 16/400,64/100] [--seconds 10] [--keep DIR]

``--keep DIR`` keeps each cell's profile (``DIR/service-16-400.prof``) to read its top functions:
``python -m pstats DIR/service-16-400.prof`` then ``sort ncalls`` and ``stats 30``.
"""

from __future__ import annotations

import argparse
import collections
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import table
from pipeline_bench import Cell, kafka, run_service, stub

HERE = Path(__file__).parent
GROUPS = ("our code", "httpx", "aiohttp", "asyncio", "other Python", "C functions")


def group_of(filename: str) -> str:
    """Who a profiled function belongs to, by its file."""
    if filename == "~":  # how pstats names the file of every function written in C
        return "C functions"
    if "/bgcut_stream/" in filename:
        return "our code"
    if "/httpx/" in filename:
        return "httpx"
    if "/aiohttp/" in filename:
        return "aiohttp"
    if "/asyncio/" in filename or filename.endswith("/selectors.py"):
        return "asyncio"
    return "other Python"


def calls_by_group(profile: Path) -> dict[str, int]:
    """Calls (primitive and recursive) in a pstats file, summed per group."""
    calls: collections.Counter[str] = collections.Counter()
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]  # untyped in typeshed
    for (filename, _line, _name), (_primitive, total, *_rest) in stats.items():
        calls[group_of(filename)] += total
    return dict(calls)


def signal_profiling(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGUSR1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", default="16/400,64/100", help="in-flight/latency-ms, ...")
    parser.add_argument("--seconds", type=float, default=10.0, help="ideal run time per cell")
    parser.add_argument("--keep", type=Path, help="a folder to keep each cell's profile in")
    args = parser.parse_args()
    cells = [Cell(*map(int, spec.split("/")), 1) for spec in args.cells.split(",")]
    headers = ["in flight", "API latency ms", "jobs", "calls/job", *GROUPS]
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="calls-per-job-") as tmp,
        kafka(Path(tmp) / "kafka") as broker,
    ):
        work = Path(tmp)
        for cell in cells:
            count = cell.jobs(args.seconds)
            out = work / f"service-{cell.in_flight}-{cell.latency_ms}.prof"
            command = (sys.executable, str(HERE / "profiled_service.py"), str(out), "run")
            with stub(cell.latency_ms) as api:
                run_service(
                    broker.bootstrap, api, cell, count, work, command=command,
                    before_publish=signal_profiling,
                )  # fmt: skip
            calls = calls_by_group(out)
            if args.keep is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(out, args.keep / out.name)
            per_job = {group: calls.get(group, 0) / count for group in GROUPS}
            total = f"{sum(per_job.values()):.0f}"
            shares = [f"{per_job[group]:.0f}" for group in GROUPS]
            rows.append([str(cell.in_flight), str(cell.latency_ms), str(count), total, *shares])
            print(dict(zip(headers, rows[-1], strict=True)), flush=True)
    print("\n" + table(headers, rows))


if __name__ == "__main__":
    main()
