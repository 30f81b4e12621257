"""``bgcut-stream api`` and ``bgcut-stream presign``: try the API by hand (hosted or ours).

Configured like the service's client: BGCUT_API_BASE_URL and BGCUT_API_API_KEY.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import typer

from bgcut_stream.client import BackgroundCutClient, BgcutError

api_app = typer.Typer(help="Call BackgroundCut API v3 endpoints (BGCUT_API_* settings).")
presign_app = typer.Typer(
    help="Mint single-use presigned tokens the way a user's backend would, for a browser."
)


def _run(call: Callable[[BackgroundCutClient], Awaitable[object]]) -> None:
    async def main() -> object:
        async with BackgroundCutClient() as client:
            return await call(client)

    try:
        typer.echo(json.dumps(asyncio.run(main()), indent=2, default=str))
    except BgcutError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc


@api_app.command("upload")
def upload(image: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Upload an image; prints its unique_filename."""
    _run(lambda c: _json(c.upload_image(image)))


@api_app.command("process")
def process(
    unique_filename: str,
    variants: str | None = typer.Option(None, help="JSON list of output variants."),
    download_to: Path | None = typer.Option(None, help="Folder to download the outputs into."),
) -> None:
    """Process an upload into variants; optionally download them."""

    async def call(client: BackgroundCutClient) -> object:
        out = await client.process_image(
            unique_filename, json.loads(variants) if variants else None
        )
        if download_to is not None:
            for name, url in out.output_urls.items():
                await client.download(url, download_to / f"{name}{Path(url).suffix}")
        return out.model_dump()

    _run(call)


@api_app.command("segment")
def segment(
    image: Path = typer.Argument(..., exists=True, dir_okay=False),
    green: list[str] = typer.Option([], help="x,y of a dot to keep (repeatable)."),
    red: list[str] = typer.Option([], help="x,y of a dot to remove (repeatable)."),
) -> None:
    """Start an AI Cut session on an image and segment it once with the given dots."""

    def dots(items: list[str]) -> list[tuple[int, int]]:
        return [(int(x), int(y)) for x, y in (item.split(",") for item in items)]

    async def call(client: BackgroundCutClient) -> object:
        session = client.ai_cut_session((await client.ai_cut_initialize(image)).unique_filename)
        return (await session.segment(green=dots(green), red=dots(red))).model_dump()

    _run(call)


@presign_app.command("upload")
def presign_upload() -> None:
    """A token for one upload (POST .../upload-image/presigned/?signed_request=...)."""
    _run(lambda c: _token(c.presign_upload()))


@presign_app.command("ai-cut")
def presign_ai_cut() -> None:
    """A token for one AI Cut initialize."""
    _run(lambda c: _token(c.presign_ai_cut_initialize()))


@presign_app.command("process")
def presign_process(
    unique_filename: str,
    variants: str | None = typer.Option(None, help="JSON list of output variants."),
) -> None:
    """A token for one process call with the variants baked in."""
    _run(
        lambda c: _token(
            c.presign_process(unique_filename, json.loads(variants) if variants else None)
        )
    )


async def _json(pending: Awaitable[str]) -> dict[str, str]:
    return {"unique_filename": await pending}


async def _token(pending: Awaitable[str]) -> dict[str, str]:
    return {"signed_request": await pending}
