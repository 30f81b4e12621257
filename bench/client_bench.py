"""Where a job's CPU goes in the HTTP client: the same two calls through four client stacks.

A reprocess job's API work is two sequential calls: process (JSON in, JSON out), then the
output's download, written to a file on tmpfs (part file + rename, on the event loop as the
service's client does on a fast filesystem: ``client/file_work.py``). This runs that
work for the same jobs, in flight at once as the service would, against ``latency_stub.py``
(near-zero CPU), through:

1. ``aiohttp``: plain ``aiohttp.ClientSession`` calls (the floor: no httpx);
2. ``httpx over aiohttp``: ``httpx.AsyncClient`` on the service's transport
   (``client/transport.py``: aiohttp's pool), with the same calls;
3. ``httpx (httpcore)``: ``httpx.AsyncClient`` on its own pool;
4. ``BackgroundCutClient``: the service's client (validated models, retries, egress guard,
   streamed download with size and type checks).

CPU is this process's (utime + stime) over the measured jobs, after a warm-up. The stacks run
interleaved, ``--reps`` times; medians. ``--writes thread`` has the first three stacks write from
a worker thread instead (``none``: not at all), to price the thread hop.
``python bench/client_bench.py [--in-flight 16] [--latency-ms 20] [--jobs 1500] [--reps 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx

from bgcut_stream.api import paths
from bgcut_stream.api.models import OutputVariant
from bgcut_stream.client import BackgroundCutClient
from bgcut_stream.client.settings import ClientSettings
from bgcut_stream.client.transport import pooled_transport

sys.path.insert(0, str(Path(__file__).parent))
from common import table
from pipeline_bench import stub

BODY = {"unique_filename": "bench-upload", "output_variants": [{"variant_name": "full"}]}
HEADERS = {"Authorization": "Bearer bench"}
WARM_UP = 100
Job = Callable[[int], Awaitable[None]]
Close = Callable[[], Awaitable[None]]
Stack = Callable[[str, int, Path], Awaitable[tuple[Job, Close]]]


def write_atomically(target: Path, data: bytes) -> None:
    """What the client does with an output: part file, then rename into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".part-{target.name}")
    part.write_bytes(data)
    part.replace(target)


write_mode = "inline"  # set from --writes
THREADED: list[bool] = []  # per BackgroundCutClient run: its file work was in threads at the end


async def store(target: Path, data: bytes) -> None:
    """Write an output as ``--writes`` says."""
    if write_mode == "inline":
        write_atomically(target, data)
    elif write_mode == "thread":
        await asyncio.to_thread(write_atomically, target, data)


async def aiohttp_stack(url: str, in_flight: int, out: Path) -> tuple[Job, Close]:
    """Plain aiohttp calls."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight))

    async def job(i: int) -> None:
        async with session.post(url + paths.PROCESS, json=BODY, headers=HEADERS) as response:
            urls = (await response.json())["output_urls"]
        for name, output in urls.items():
            async with session.get(output) as response:
                data = await response.read()
            await store(out / f"{i}" / f"{name}.png", data)

    return job, session.close


def httpx_stack(transport: Callable[[int], httpx.AsyncBaseTransport | None]) -> Stack:
    """httpx calls over ``transport(in_flight)`` (None: httpx's own pool)."""

    async def build(url: str, in_flight: int, out: Path) -> tuple[Job, Close]:
        client = httpx.AsyncClient(
            transport=transport(in_flight), limits=httpx.Limits(max_connections=in_flight)
        )

        async def job(i: int) -> None:
            response = await client.post(url + paths.PROCESS, json=BODY, headers=HEADERS)
            for name, output in response.json()["output_urls"].items():
                data = (await client.get(output)).content
                await store(out / f"{i}" / f"{name}.png", data)

        return job, client.aclose

    return build


async def service_client(url: str, in_flight: int, out: Path) -> tuple[Job, Close]:
    """The service's client, as the job processor calls it."""
    client = BackgroundCutClient(
        ClientSettings(api_key="bench", base_url=url, max_connections=in_flight)
    )
    variants = [OutputVariant(variant_name="full")]

    async def job(i: int) -> None:
        output = await client.process_image("bench-upload", variants)
        for name, target in output.output_urls.items():
            await client.download(target, out / f"{i}" / f"{name}.png")

    async def close() -> None:
        THREADED.append(client._files.threaded)  # which write path the run ended on
        await client.aclose()

    return job, close


async def measure(build: Stack, url: str, in_flight: int, jobs: int, out: Path) -> float:
    """CPU ms per job, the warm-up excluded."""
    job, close = await build(url, in_flight, out)
    slots = asyncio.Semaphore(in_flight)

    async def bounded(i: int) -> None:
        async with slots:
            await job(i)

    try:
        await asyncio.gather(*(bounded(i) for i in range(WARM_UP)))
        started = time.process_time()
        await asyncio.gather(*(bounded(i) for i in range(WARM_UP, WARM_UP + jobs)))
        return (time.process_time() - started) / jobs * 1000
    finally:
        await close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1500)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--writes", choices=("inline", "thread", "none"), default="inline")
    args = parser.parse_args()
    global write_mode  # noqa: PLW0603 - one run's setting, read by store()
    write_mode = args.writes
    stacks: dict[str, Stack] = {
        "aiohttp": aiohttp_stack,
        "httpx over aiohttp (the service's transport)": httpx_stack(pooled_transport),
        "httpx (httpcore pool)": httpx_stack(lambda _: None),
        "BackgroundCutClient (the service's client)": service_client,
    }
    runs: dict[str, list[float]] = {name: [] for name in stacks}
    with stub(args.latency_ms) as url, tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
        for rep in range(args.reps):
            for index, (name, build) in enumerate(stacks.items()):
                out = Path(tmp) / f"{rep}-{index}"
                runs[name].append(asyncio.run(measure(build, url, args.in_flight, args.jobs, out)))
            done = ", ".join(f"{values[-1]:.2f}" for values in runs.values())
            print(f"run {rep + 1} of {args.reps}: {done} ms/job", flush=True)
    floor = statistics.median(runs["aiohttp"])
    rows = [
        [
            name,
            f"{statistics.median(values):.2f}",
            f"{min(values):.2f}-{max(values):.2f}",
            f"{statistics.median(values) / floor:.2f}x",
            f"{statistics.median(values) - floor:+.2f}",
        ]
        for name, values in runs.items()
    ]
    print(
        f"\nClient stacks, {args.in_flight} in flight, {args.latency_ms} ms API latency, "
        f"{args.jobs} jobs a run, median of {args.reps} interleaved runs "
        f"(process + download + file write per job; the first three write {args.writes}):\n"
    )
    print(table(["stack", "CPU ms/job", "range", "÷ aiohttp", "ms/job over aiohttp"], rows))
    print(
        f"\nBackgroundCutClient's output writes ended in worker threads in {sum(THREADED)} of "
        f"{len(THREADED)} runs (inline writes turned slow: see client/file_work.py)."
    )


if __name__ == "__main__":
    main()
