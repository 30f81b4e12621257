"""``bgcut-stream registry up|down|status``: the project's local Schema Registry (Apicurio)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from bgcut_stream.kafka_local.broker import default_cache_dir
from bgcut_stream.registry_local import LocalRegistry, RegistryConfig, RegistryLocalError
from bgcut_stream.registry_local.dist import DEFAULT_REGISTRY_VERSION, resolve_app

app = typer.Typer(help="Run a real Confluent-API Schema Registry (Apicurio Registry) on 127.0.0.1.")

StateDir = typer.Option(Path(".bgcut/registry"), "--state-dir", help="Pid, log and data folder.")
AUTH_ENV = "BGCUT_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"


def _registry(
    state_dir: Path,
    port: int = 0,
    version: str = DEFAULT_REGISTRY_VERSION,
    user_info: str | None = None,
) -> LocalRegistry:
    return LocalRegistry(
        RegistryConfig(
            state_dir=state_dir,
            port=port,
            cache_dir=default_cache_dir(),
            version=version,
            basic_auth_user_info=user_info,
        )
    )


def _fail(exc: RegistryLocalError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=2)


@app.command()
def up(
    state_dir: Path = StateDir,
    port: int = typer.Option(8081, help="Port on 127.0.0.1 (0 = any free port)."),
    version: str = typer.Option(
        DEFAULT_REGISTRY_VERSION, help="io.apicurio:apicurio-registry-app version."
    ),
    basic_auth: bool = typer.Option(
        False, help=f"Require HTTP basic auth with the USER:PASSWORD in ${AUTH_ENV}."
    ),
) -> None:
    """Resolve the registry with mvn (cached), start it, wait for it; print its URL."""
    user_info = None
    if basic_auth:
        user_info = os.environ.get(AUTH_ENV)
        if not user_info:
            typer.echo(f"error: --basic-auth needs ${AUTH_ENV}=USER:PASSWORD", err=True)
            raise typer.Exit(code=2)
    try:
        url = _registry(state_dir, port, version, user_info).up()
    except RegistryLocalError as exc:
        raise _fail(exc) from exc
    typer.echo(url)


@app.command()
def fetch(
    version: str = typer.Option(
        DEFAULT_REGISTRY_VERSION, help="io.apicurio:apicurio-registry-app version."
    ),
) -> None:
    """Only resolve the registry application into the cache (for `make tools`)."""
    try:
        jar = resolve_app(default_cache_dir(), version)
    except RegistryLocalError as exc:
        raise _fail(exc) from exc
    typer.echo(str(jar))


@app.command()
def down(state_dir: Path = StateDir) -> None:
    """Stop the registry (SIGTERM, then SIGKILL after 30 s)."""
    stopped = _registry(state_dir).down()
    typer.echo("stopped" if stopped else "not running")


@app.command()
def status(state_dir: Path = StateDir) -> None:
    """Print the URL of the running registry; exit 1 when none runs."""
    url = _registry(state_dir).url()
    if url is None:
        typer.echo("not running")
        raise typer.Exit(code=1)
    typer.echo(url)
