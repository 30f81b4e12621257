"""Entry point of the ``bgcut-stream`` console script."""

from __future__ import annotations

import typer

from bgcut_stream.cli import kafka, server

app = typer.Typer(
    name="bgcut-stream",
    help="Background removal for Kafka image jobs through the BackgroundCut API v3.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(kafka.app, name="kafka")
app.add_typer(server.app, name="server")
