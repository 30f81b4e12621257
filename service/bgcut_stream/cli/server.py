"""``bgcut-stream server``: run the self-hosted BackgroundCut API v3 server; manage credits."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from pydantic import ValidationError

from bgcut_stream.cli.api import fail, first_error

if TYPE_CHECKING:
    from bgcut_stream.server.ledger import Ledger
    from bgcut_stream.server.settings import ServerSettings

app = typer.Typer(
    help="Self-hosted BackgroundCut API v3 server. Every flag also reads BGCUT_SERVER_<NAME> "
    "(see the README for the rest, e.g. BGCUT_SERVER_MAX_UPLOAD_BYTES). Prints its URLs "
    "(API, /studio/, /metrics) at start.",
    invoke_without_command=True,
)
credits_app = typer.Typer(
    help="Credit balances in the server's data dir (the SQLite ledger the server uses: "
    "--data-dir, else BGCUT_SERVER_DATA_DIR, else .bgcut/server). Credits are kept in steps "
    "of 0.5; other amounts are refused, never rounded."
)
app.add_typer(credits_app, name="credits")

DataDir = typer.Option(
    None,
    "--data-dir",
    help="Ledger, uploads and outputs folder [BGCUT_SERVER_DATA_DIR or .bgcut/server].",
)


OPEN_HINT = "check the key, or pass --create to open an account for it"
SHOW_HINT = "check the key, and --data-dir / BGCUT_SERVER_DATA_DIR (the server's data dir)"


def _server_settings(**given: Any) -> ServerSettings:
    from bgcut_stream.server.settings import ServerSettings  # noqa: PLC0415 - imported when used (start-up stays light)

    try:
        return ServerSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        fail(f"server setting {first_error(exc)} (flag or BGCUT_SERVER_* variable)")


def urls(settings: ServerSettings) -> list[str]:
    """What the start-up banner lists: API, docs, studio (or how to turn it on), metrics."""
    host = "127.0.0.1" if settings.host in {"0.0.0.0", "::", ""} else settings.host  # noqa: S104 - compares against the wildcard, binds nothing
    base = (settings.public_url or f"http://{host}:{settings.port}").rstrip("/")
    studio = (
        f"{base}/studio/"
        if settings.studio_key is not None
        else "off (set --studio-key or BGCUT_SERVER_STUDIO_KEY)"
    )
    return [
        f"API      {base}/v3/  (docs {base}/docs)",
        f"studio   {studio}",
        f"metrics  {base}/metrics",
        f"data     {settings.data_dir}",
    ]


@app.callback()
def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, help="Bind address [127.0.0.1]."),
    port: int | None = typer.Option(None, help="Port [8080]."),
    data_dir: Path | None = DataDir,
    keys: str | None = typer.Option(
        None,
        help="Accounts to seed, 'key:credits,key2:credits' (prefer BGCUT_SERVER_KEYS: command "
        "lines are visible to other users).",
    ),
    keys_file: Path | None = typer.Option(None, help="File of 'key:credits' lines to seed."),
    studio_key: str | None = typer.Option(
        None,
        help="API key /studio/ mints its presigned tokens with; turns on /studio/ "
        "(prefer BGCUT_SERVER_STUDIO_KEY).",
    ),
    cors_origins: str | None = typer.Option(
        None, help="Comma-separated origins allowed on the presigned and AI Cut endpoints."
    ),
    public_url: str | None = typer.Option(None, help="Base URL of returned file links."),
    admin_token: str | None = typer.Option(None, help="Enables /_admin/ (faults, expiry)."),
    fault_latency_ms: float | None = typer.Option(None, help="Latency added to every API call."),
    fault_rates: str | None = typer.Option(None, help='JSON {"process": {"503": 0.3}}.'),
    workers: int | None = typer.Option(None, help="Inference threads [2]."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Start the server (when no subcommand is given)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn  # noqa: PLC0415 - server extra; not needed by the other subcommands

    from bgcut_stream.server.app import create_app  # noqa: PLC0415 - imported when used (start-up stays light)
    from bgcut_stream.server.runtime import uvicorn_config  # noqa: PLC0415 - imported when used (start-up stays light)

    given: dict[str, Any] = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "keys": keys,
        "keys_file": keys_file,
        "studio_key": studio_key,
        "cors_origins": cors_origins,
        "public_url": public_url,
        "admin_token": admin_token,
        "fault_latency_ms": fault_latency_ms,
        "fault_rates": fault_rates,
        "workers": workers,
    }
    settings = _server_settings(**given)
    app_ = create_app(settings)
    typer.echo("bgcut-stream server\n" + "\n".join(f"  {line}" for line in urls(settings)))
    uvicorn.Server(uvicorn_config(app_, settings, log_level=log_level)).run()


def _ledger(data_dir: Path | None, *, create: bool = False) -> Ledger:
    """The server's ledger; a missing database is an error unless ``create``."""
    from bgcut_stream.server.db import Database  # noqa: PLC0415 - imported when used (start-up stays light)
    from bgcut_stream.server.ledger import Ledger  # noqa: PLC0415 - imported when used (start-up stays light)

    folder = data_dir or _server_settings().data_dir
    path = folder / "server.sqlite3"
    if not path.exists() and not create:
        fail(
            f"no server database at {path}: pass --data-dir or set BGCUT_SERVER_DATA_DIR to the "
            "server's data dir (credits add --create starts a new one)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    return Ledger(Database(path))


def parse_amount(text: str) -> float:
    """A finite amount in steps of 0.5, or a one-line error (never silently rounded)."""
    try:
        amount = float(text)
    except ValueError:
        fail(f"AMOUNT {text!r} is not a number, e.g. 10, 2.5 or -5")
    if not math.isfinite(amount) or abs(amount) > 1e12:
        fail(f"AMOUNT {text!r} must be a finite number of credits")
    if amount * 2 != round(amount * 2):
        fail(
            f"AMOUNT {text}: credits are kept in steps of 0.5; use {math.floor(amount * 2) / 2} "
            f"or {math.ceil(amount * 2) / 2}"
        )
    return amount


def _account(ledger: Ledger, api_key: str, hint: str) -> str:
    from bgcut_stream.server.ledger import key_hash  # noqa: PLC0415 - imported when used (start-up stays light)

    hashed = key_hash(api_key)
    if not ledger.exists(hashed):
        fail(f"no account for this key in the ledger: {hint}")
    return hashed


@credits_app.command("add", context_settings={"ignore_unknown_options": True}, no_args_is_help=True)
def credits_add(
    api_key: str = typer.Argument(..., help="The API key (stored hashed)."),
    amount: str = typer.Argument(
        ..., help="Credits to add, in steps of 0.5; negative removes them (e.g. -5)."
    ),
    data_dir: Path | None = DataDir,
    create: bool = typer.Option(False, "--create", help="Open the account if the key is new."),
) -> None:
    """Add credits to a key (`credits add KEY 10`) or remove them (`credits add KEY -5`).

    Refuses unknown keys unless --create, amounts not in steps of 0.5, and removing more than
    the balance. Prints the new balance.
    """
    from bgcut_stream.server.exceptions import ApiError  # noqa: PLC0415 - imported when used (start-up stays light)
    from bgcut_stream.server.ledger import key_hash  # noqa: PLC0415 - imported when used (start-up stays light)

    credits = parse_amount(amount)
    ledger = _ledger(data_dir, create=create)
    hashed = key_hash(api_key) if create else _account(ledger, api_key, OPEN_HINT)
    if credits < 0:
        if not ledger.exists(hashed):
            fail("a new account cannot start below zero: give a positive AMOUNT with --create")
        balance = ledger.balance(hashed)
        try:
            ledger.charge(hashed, -credits)
        except ApiError:
            fail(f"cannot remove {-credits:g} credits: the key has {balance:g}")
        typer.echo(ledger.balance(hashed))
        return
    try:
        typer.echo(ledger.add(hashed, credits))
    except ApiError as exc:
        fail(exc.detail)


@credits_app.command("show", no_args_is_help=True)
def credits_show(api_key: str = typer.Argument(...), data_dir: Path | None = DataDir) -> None:
    """Print a key's balance; an unknown key is an error."""
    ledger = _ledger(data_dir)
    typer.echo(ledger.balance(_account(ledger, api_key, SHOW_HINT)))
