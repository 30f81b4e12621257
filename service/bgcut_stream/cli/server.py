"""``bgcut-stream server``: run the self-hosted BackgroundCut API v3 server; manage credits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(
    help="Self-hosted BackgroundCut API v3 server. Every flag also reads BGCUT_SERVER_<NAME>.",
    invoke_without_command=True,
)
credits_app = typer.Typer(help="Credit balances in the server's data dir (SQLite ledger).")
app.add_typer(credits_app, name="credits")

DataDir = typer.Option(None, "--data-dir", help="Ledger, uploads and outputs folder.")


@app.callback()
def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, help="Bind address [127.0.0.1]."),
    port: int | None = typer.Option(None, help="Port [8080]."),
    data_dir: Path | None = DataDir,
    keys_file: Path | None = typer.Option(None, help="File of 'key:credits' lines to seed."),
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

    from bgcut_stream.server.app import create_app  # noqa: PLC0415
    from bgcut_stream.server.runtime import uvicorn_config  # noqa: PLC0415
    from bgcut_stream.server.settings import ServerSettings  # noqa: PLC0415

    given: dict[str, Any] = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "keys_file": keys_file,
        "public_url": public_url,
        "admin_token": admin_token,
        "fault_latency_ms": fault_latency_ms,
        "fault_rates": fault_rates,
        "workers": workers,
    }
    settings = ServerSettings(**{k: v for k, v in given.items() if v is not None})
    app_ = create_app(settings)
    uvicorn.Server(uvicorn_config(app_, settings, log_level=log_level)).run()


def _ledger(data_dir: Path | None) -> Any:
    from bgcut_stream.server.db import Database  # noqa: PLC0415
    from bgcut_stream.server.ledger import Ledger  # noqa: PLC0415
    from bgcut_stream.server.settings import ServerSettings  # noqa: PLC0415

    folder = data_dir or ServerSettings().data_dir
    return Ledger(Database(folder / "server.sqlite3"))


@credits_app.command("add")
def credits_add(
    api_key: str = typer.Argument(..., help="The API key (stored hashed)."),
    amount: float = typer.Argument(..., help="Credits to add (negative to remove)."),
    data_dir: Path | None = DataDir,
) -> None:
    """Add credits to a key, creating the account when new; prints the new balance."""
    from bgcut_stream.server.ledger import key_hash  # noqa: PLC0415

    typer.echo(_ledger(data_dir).add(key_hash(api_key), amount))


@credits_app.command("show")
def credits_show(api_key: str = typer.Argument(...), data_dir: Path | None = DataDir) -> None:
    """Print a key's balance."""
    from bgcut_stream.server.ledger import key_hash  # noqa: PLC0415

    typer.echo(_ledger(data_dir).balance(key_hash(api_key)))
