"""``bgcut-stream api`` and ``bgcut-stream presign``: try the API by hand (hosted or ours).

Configured like the service's client: BGCUT_API_BASE_URL and BGCUT_API_API_KEY. Every
argument is checked before the first call, so a typo never costs a credit: a user error is one
line on stderr and exit code 2; an error answered by the API is one line and exit code 1.
Retries are quiet unless BGCUT_LOG_LEVEL=WARNING (or lower).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shlex
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import typer
from pydantic import ValidationError

from bgcut_stream.api import paths
from bgcut_stream.api.models import OutputVariant, ProcessImageIn
from bgcut_stream.client import BackgroundCutClient, BgcutError
from bgcut_stream.client.exceptions import TransportError
from bgcut_stream.client.settings import ClientSettings
from bgcut_stream.observability.logging import configure

USAGE_ERROR = 2
API_ERROR = 1
VARIANTS_HELP = (
    "JSON list of output variants, e.g. "
    '\'[{"variant_name": "full"}, {"variant_name": "thumb", "max_resolution": 250000}]\'.'
)
api_app = typer.Typer(help="Call BackgroundCut API v3 endpoints (BGCUT_API_* settings).")
presign_app = typer.Typer(
    help="Mint single-use presigned tokens the way a user's backend would, for a browser. "
    "Prints the token, the URL to call with it, its expiry and a curl example."
)


def fail(message: str) -> NoReturn:
    """A user error: one line saying what to do, exit code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=USAGE_ERROR)


def first_error(exc: ValidationError) -> str:
    """The first problem of a pydantic error, on one line."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def _settings() -> ClientSettings:
    try:
        settings = ClientSettings()
    except ValidationError as exc:
        fail(f"BGCUT_API_{first_error(exc)} (check the BGCUT_API_* environment variables)")
    except ValueError as exc:
        fail(str(exc).splitlines()[0])
    if not settings.api_key.get_secret_value():
        fail(
            "no API key: set BGCUT_API_API_KEY (or BGCUT_API_API_KEY_FILE) to your key, "
            f"and BGCUT_API_BASE_URL to the API (now {settings.base_url})"
        )
    return settings


def _quiet_logs() -> None:
    """Retries log warnings; by hand only errors show (BGCUT_LOG_LEVEL=WARNING shows them)."""
    try:
        configure(os.environ.get("BGCUT_LOG_LEVEL", "ERROR"), json=False)
    except ValueError as exc:
        fail(f"BGCUT_LOG_LEVEL: {exc}")


def _run(call: Callable[[BackgroundCutClient], Awaitable[object]]) -> None:
    settings = _settings()
    _quiet_logs()

    async def main() -> object:
        async with BackgroundCutClient(settings) as client:
            return await call(client)

    try:
        result = asyncio.run(main())
    except TransportError as exc:
        if settings.base_url.rstrip("/") == paths.DEFAULT_BASE_URL:
            fail(
                f"cannot reach {paths.DEFAULT_BASE_URL} ({exc}); to use your own server set "
                "BGCUT_API_BASE_URL, e.g. BGCUT_API_BASE_URL=http://127.0.0.1:8080"
            )
        typer.echo(f"error: cannot reach {settings.base_url}: {exc}", err=True)
        raise typer.Exit(code=API_ERROR) from None
    except BgcutError as exc:
        typer.echo(f"error: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(code=API_ERROR) from None
    except OSError as exc:
        fail(f"{exc.filename or ''}: {exc.strerror or exc}")
    typer.echo(json.dumps(result, indent=2, default=str))


def parse_variants(text: str | None) -> list[dict[str, Any]] | None:
    """``--variants`` parsed and validated like the API would, before anything is spent."""
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--variants is not valid JSON ({exc.msg} at character {exc.pos}). {VARIANTS_HELP}")
    except (ValueError, RecursionError):
        fail(f"--variants is not valid JSON. {VARIANTS_HELP}")
    if not isinstance(parsed, list):
        fail(f"--variants must be a JSON list. {VARIANTS_HELP}")
    try:
        ProcessImageIn.model_validate({"unique_filename": "x", "output_variants": parsed})
    except ValidationError as exc:
        fail(f"--variants: {first_error(exc).removeprefix('output_variants.')}")
    return parsed


def _targets(variants: list[dict[str, Any]] | None, folder: Path, force: bool) -> dict[str, Path]:
    """Where each variant will be saved; refuses to overwrite without --force."""
    if folder.exists() and not folder.is_dir():
        fail(f"--download-to {folder} is a file: give a folder")
    chosen = [OutputVariant.model_validate(v) for v in variants or [{}]]
    targets = {v.variant_name: folder / f"{v.variant_name}.{v.extension}" for v in chosen}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not force:
        fail(f"{', '.join(existing)} already exists: pass --force to overwrite, or another folder")
    return targets


@api_app.command("upload")
def upload(image: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Upload an image; prints its unique_filename."""
    _run(lambda c: _json(c.upload_image(image)))


@api_app.command("process")
def process(
    unique_filename: str,
    variants: str | None = typer.Option(None, help=VARIANTS_HELP),
    download_to: Path | None = typer.Option(
        None, help="Folder to save the outputs in (as <variant_name>.<format>)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite files in --download-to."),
) -> None:
    """Process an upload into variants (1 credit, +0.5 per autocrop variant); optionally save them.

    Prints the API's answer; with --download-to also the saved paths under "downloaded".
    """
    parsed = parse_variants(variants)
    targets = _targets(parsed, download_to, force) if download_to is not None else {}
    if download_to is not None:
        try:  # before anything is spent: a folder we cannot write is a user error
            download_to.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(f"--download-to {download_to}: {exc.strerror or exc}")

    async def call(client: BackgroundCutClient) -> object:
        out = await client.process_image(unique_filename, parsed)
        answer: dict[str, Any] = out.model_dump()
        if download_to is not None:
            saved = {}
            for name, url in out.output_urls.items():
                target = targets.get(name, download_to / f"{name}{Path(url).suffix}")
                await client.download(url, target)
                saved[name] = str(target)
            answer["downloaded"] = saved
        return answer

    _run(call)


def parse_dots(items: list[str], option: str) -> list[tuple[int, int]]:
    """``x,y`` pairs of non-negative integers, or a one-line error naming the option."""
    dots = []
    for item in items:
        x, sep, y = item.partition(",")
        if not sep or not x.strip().isdigit() or not y.strip().isdigit():
            fail(f"{option} {item!r}: expected x,y in image pixels, e.g. {option} 120,80")
        dots.append((int(x), int(y)))
    return dots


def _image_size(image: Path) -> tuple[int, int]:
    from bgcut_stream.imaging.decode import inspect  # noqa: PLC0415 - only for segment
    from bgcut_stream.imaging.exceptions import ImageError  # noqa: PLC0415 - imported when used (start-up stays light)

    try:
        info = inspect(image.read_bytes(), 10**12)
    except ImageError as exc:
        fail(f"{image}: {exc} (PNG, JPEG or WebP expected)")
    return info.width, info.height


@api_app.command("segment")
def segment(
    image: Path = typer.Argument(..., exists=True, dir_okay=False),
    green: list[str] = typer.Option([], help="x,y of a dot to keep (repeatable)."),
    red: list[str] = typer.Option([], help="x,y of a dot to remove (repeatable)."),
) -> None:
    """Start an AI Cut session on an image (1 credit) and segment it once with the given dots."""
    keep, remove = parse_dots(green, "--green"), parse_dots(red, "--red")
    width, height = _image_size(image)
    for option, dots in (("--green", keep), ("--red", remove)):
        for x, y in dots:
            if x >= width or y >= height:
                fail(f"{option} {x},{y} is outside the {width}x{height} image")

    async def call(client: BackgroundCutClient) -> object:
        session = client.ai_cut_session((await client.ai_cut_initialize(image)).unique_filename)
        return (await session.segment(green=keep, red=remove)).model_dump()

    _run(call)


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim when a token carries one (JWT-like); ours are opaque ids."""
    for part in token.split(".")[:2]:
        try:
            claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except (ValueError, RecursionError):
            continue
        if isinstance(claims, dict) and isinstance(claims.get("exp"), int | float):
            return float(claims["exp"])
    return None


def _presigned(token: str, path: str, base_url: str, minted: float) -> dict[str, Any]:
    base = base_url.rstrip("/")
    expiry = token_expiry(token)
    out: dict[str, Any] = {"signed_request": token}
    if path == paths.PROCESS_PRESIGNED:
        out["url"] = f"{base}{path}"
        body = json.dumps({"signed_request": token})
        out["curl"] = (
            f"curl -X POST -H 'Content-Type: application/json' -d {shlex.quote(body)} "
            f"{shlex.quote(out['url'])}"
        )
    else:
        out["url"] = f"{base}{path}?signed_request={quote(token, safe='')}"
        out["curl"] = f"curl -F image=@photo.png {shlex.quote(out['url'])}"
    out["minted_at"] = datetime.fromtimestamp(minted, UTC).isoformat(timespec="seconds")
    out["expires_at"] = (
        datetime.fromtimestamp(expiry, UTC).isoformat(timespec="seconds") if expiry else None
    )
    out["expiry"] = (
        "single use; short-lived: use it right away (our server: BGCUT_SERVER_PRESIGN_TTL_S, "
        "300 s by default, after minted_at)"
    )
    return out


def _mint(
    mint: Callable[[BackgroundCutClient], Awaitable[str]], path: str
) -> Callable[[BackgroundCutClient], Awaitable[object]]:
    async def call(client: BackgroundCutClient) -> object:
        minted = time.time()
        return _presigned(await mint(client), path, client.settings.base_url, minted)

    return call


@presign_app.command("upload")
def presign_upload() -> None:
    """A token for one upload (POST .../upload-image/presigned/?signed_request=...)."""
    _run(_mint(lambda c: c.presign_upload(), paths.UPLOAD_PRESIGNED))


@presign_app.command("ai-cut")
def presign_ai_cut() -> None:
    """A token for one AI Cut initialize (1 credit when used)."""
    _run(_mint(lambda c: c.presign_ai_cut_initialize(), paths.AI_CUT_INITIALIZE_PRESIGNED))


@presign_app.command("process")
def presign_process(
    unique_filename: str,
    variants: str | None = typer.Option(None, help=VARIANTS_HELP),
) -> None:
    """A token for one process call with the variants baked in."""
    parsed = parse_variants(variants)
    _run(_mint(lambda c: c.presign_process(unique_filename, parsed), paths.PROCESS_PRESIGNED))


async def _json(pending: Awaitable[str]) -> dict[str, str]:
    return {"unique_filename": await pending}
