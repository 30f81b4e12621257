"""``bgcut-stream run``: the stream service."""

from __future__ import annotations

import asyncio
import signal

import typer

from bgcut_stream.client.settings import ClientSettings
from bgcut_stream.observability.logging import configure
from bgcut_stream.stream.service import StreamService
from bgcut_stream.stream.settings import StreamSettings
from bgcut_stream.stream.topics import ensure_topics


async def serve(service: StreamService) -> None:
    """Run until SIGTERM or SIGINT, then drain and exit."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.run(stop)


def run(
    create_topics: bool = typer.Option(False, help="Create missing topics first (dev, demo)."),
) -> None:
    """Consume ImageJobs and publish ImageResults. Configured by BGCUT_* and BGCUT_API_* vars."""
    settings = StreamSettings()
    configure(settings.log_level, settings.log_json)
    if create_topics:
        ensure_topics(settings)
    asyncio.run(serve(StreamService(settings, ClientSettings())))
