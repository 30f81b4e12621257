"""The bench's latency stub: a fixed delay, or a seeded lognormal one with the same mean."""

from __future__ import annotations

import asyncio
import statistics
import time
from types import ModuleType

from tests.support.bench_modules import load as load_bench


def load() -> ModuleType:
    return load_bench("latency_stub")


def test_a_fixed_delay_without_jitter() -> None:
    stub = load().Stub(0.1, "http://127.0.0.1:1")
    assert {stub.delay() for _ in range(100)} == {0.1}


def test_jitter_keeps_the_mean_varies_each_call_and_repeats_across_runs() -> None:
    module = load()
    draws = [module.Stub(0.1, "", jitter=0.5).delay() for _ in range(3)]
    assert len(set(draws)) == 1  # seeded: every run meets the same latencies
    stub = module.Stub(0.1, "", jitter=0.5)
    delays = sorted(stub.delay() for _ in range(20_000))
    assert abs(statistics.fmean(delays) - 0.1) < 0.004
    assert delays[len(delays) // 100] < 0.05 < 0.2 < delays[-len(delays) // 100]  # p1, p99


def test_the_first_call_is_timed_when_it_arrives_not_when_it_is_answered() -> None:
    """jobs/s spans from the first API call: timed after the delay, it would drop one latency
    from the service's span (4 % of a 10 s run at 400 ms) and flatter it against its peers."""
    module = load()
    stub = module.Stub(0.3, "http://127.0.0.1:1")

    async def call() -> tuple[float, float]:
        server = await asyncio.start_server(
            lambda r, w: module._serve_connection(stub, r, w), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = time.time()
        writer.write(b"POST /v3/remove-bg/upload-image/ HTTP/1.1\r\ncontent-length: 0\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        answered = time.time()
        writer.close()
        server.close()
        return sent, answered

    sent, answered = asyncio.run(call())
    assert answered - sent >= 0.3
    assert stub.first_call is not None
    assert stub.first_call - sent < 0.15
