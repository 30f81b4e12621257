"""``bgcut-stream kafka up|down|status``: the project's local Apache Kafka broker."""

from __future__ import annotations

from pathlib import Path

import typer

from bgcut_stream.kafka_local import BrokerConfig, KafkaLocalError, LocalBroker
from bgcut_stream.kafka_local.broker import default_cache_dir
from bgcut_stream.kafka_local.jars import DEFAULT_KAFKA_VERSION

app = typer.Typer(help="Run a real single-node Apache Kafka (KRaft) broker on 127.0.0.1.")

StateDir = typer.Option(Path(".bgcut/kafka"), "--state-dir", help="Pid, logs and data folder.")


def _broker(state_dir: Path, port: int = 0, version: str = DEFAULT_KAFKA_VERSION) -> LocalBroker:
    return LocalBroker(
        BrokerConfig(state_dir=state_dir, port=port, cache_dir=default_cache_dir(), version=version)
    )


@app.command()
def up(
    state_dir: Path = StateDir,
    port: int = typer.Option(9092, help="Broker port on 127.0.0.1 (0 = any free port)."),
    version: str = typer.Option(DEFAULT_KAFKA_VERSION, help="org.apache.kafka:kafka_2.13 version."),
) -> None:
    """Resolve the Kafka jars with mvn (cached), format storage, start the broker, wait for it."""
    try:
        bootstrap = _broker(state_dir, port, version).up()
    except KafkaLocalError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    typer.echo(bootstrap)


@app.command()
def down(state_dir: Path = StateDir) -> None:
    """Stop the broker (SIGTERM, then SIGKILL after 30 s)."""
    stopped = _broker(state_dir).down()
    typer.echo("stopped" if stopped else "not running")


@app.command()
def status(state_dir: Path = StateDir) -> None:
    """Print the bootstrap servers of the running broker; exit 1 when none runs."""
    bootstrap = _broker(state_dir).bootstrap_servers()
    if bootstrap is None:
        typer.echo("not running")
        raise typer.Exit(code=1)
    typer.echo(bootstrap)
