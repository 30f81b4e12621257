"""Run the ``bgcut-stream`` command line as a subprocess, the way a person would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bgcut_stream ARGS`` with ``env`` (None: ours); capture text, never raise."""
    return subprocess.run(
        [sys.executable, "-m", "bgcut_stream", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
