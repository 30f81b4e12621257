"""``python -m bgcut_stream``: the same as the ``bgcut-stream`` console script."""

from bgcut_stream.cli.main import app

app()
