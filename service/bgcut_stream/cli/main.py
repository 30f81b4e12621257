"""Entry point of the ``bgcut-stream`` console script."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import typer

from bgcut_stream.cli import api, demo, dlq, kafka, produce, registry, run, server
from bgcut_stream.cli.errors import OneLineErrors

app = typer.Typer(
    name="bgcut-stream",
    help="Background removal for Kafka image jobs through the BackgroundCut API v3.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)
app.add_typer(kafka.app, name="kafka")
app.add_typer(registry.app, name="registry")
app.add_typer(server.app, name="server")
app.add_typer(dlq.app, name="dlq")
app.command()(run.run)
app.command()(produce.produce)
app.command()(demo.demo)
app.add_typer(api.api_app, name="api")
app.add_typer(api.presign_app, name="presign")


def _print_version(value: bool) -> None:
    if value:
        try:
            installed = version("bgcut-stream")
        except PackageNotFoundError:  # a source tree on sys.path, not installed
            from bgcut_stream import __version__ as installed  # noqa: PLC0415 - imported when used (start-up stays light)
        typer.echo(f"bgcut-stream {installed}")
        raise typer.Exit


@app.callback()
def _main(
    show_version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Background removal for Kafka image jobs through the BackgroundCut API v3."""
