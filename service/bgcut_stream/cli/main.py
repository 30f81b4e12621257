"""Entry point of the ``bgcut-stream`` console script."""

from __future__ import annotations

import typer

from bgcut_stream.cli import api, demo, dlq, kafka, produce, run, server

app = typer.Typer(
    name="bgcut-stream",
    help="Background removal for Kafka image jobs through the BackgroundCut API v3.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(kafka.app, name="kafka")
app.add_typer(server.app, name="server")
app.add_typer(dlq.app, name="dlq")
app.command()(run.run)
app.command()(produce.produce)
app.command()(demo.demo)
app.add_typer(api.api_app, name="api")
app.add_typer(api.presign_app, name="presign")
