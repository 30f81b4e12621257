"""The peers of ``pipeline_bench.py``: what a team writes by hand instead of the service.

``--batch 1``: the naive consumer (poll one, process, download, commit). ``--batch N``: the
common hand-rolled alternative: poll N records, ``asyncio.gather`` their API calls with a plain
``httpx.AsyncClient()``, commit, repeat.

Standalone on purpose: it imports only ``confluent_kafka``, ``httpx`` and the standard library,
so the bench can run it in a fresh virtual environment holding just ``pip install httpx
confluent-kafka``, as a team that writes it would have, as well as in the project's own.
Prints one JSON line: jobs/s, CPU ms per job (this process), mean job ms, library versions.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import statistics
import sys
import time

import httpx
from confluent_kafka import Consumer


async def one(http: httpx.AsyncClient, api: str, body: dict[str, object]) -> float:
    """Process one job (one API call) and download its variants at once; its seconds."""
    started = time.perf_counter()
    response = await http.post(
        f"{api}/v3/remove-bg/process-image/", json=body, headers={"Authorization": "bench"}
    )
    response.raise_for_status()
    urls = response.json()["output_urls"].values()
    downloads = await asyncio.gather(*(http.get(u) for u in urls))
    for download in downloads:
        download.raise_for_status()
    return time.perf_counter() - started


def run(bootstrap: str, topic: str, api: str, count: int, batch: int, variants: list) -> dict:
    """Consume ``count`` jobs from ``topic`` ``batch`` at a time."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-peer",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    body = {"unique_filename": "u-1", "variants": variants}
    durations: list[float] = []
    cpu0 = time.process_time()

    async def main() -> float:
        async with httpx.AsyncClient(timeout=60) as http:
            started: float | None = None
            while len(durations) < count:
                msgs = [m for m in consumer.consume(batch, timeout=0.5) if not m.error()]
                if not msgs:
                    continue
                started = started or time.perf_counter()
                durations.extend(await asyncio.gather(*(one(http, api, body) for _ in msgs)))
                consumer.commit(asynchronous=False)
            return time.perf_counter() - (started or time.perf_counter())

    elapsed = asyncio.run(main())
    cpu = time.process_time() - cpu0
    consumer.close()
    versions = {
        name: importlib.metadata.version(name)
        for name in ("httpx", "httpcore", "anyio", "confluent-kafka")
    }
    try:
        versions["sniffio"] = importlib.metadata.version("sniffio")
    except importlib.metadata.PackageNotFoundError:
        versions["sniffio"] = "absent"
    return {
        "jobs_s": len(durations) / elapsed,
        "cpu_ms": 1000 * cpu / len(durations),
        "job_ms": 1000 * statistics.fmean(durations),
        "python": sys.executable,
        "versions": versions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--variants", required=True, help="the process call's variants, JSON")
    args = parser.parse_args()
    result = run(
        args.bootstrap, args.topic, args.api, args.count, args.batch, json.loads(args.variants)
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
