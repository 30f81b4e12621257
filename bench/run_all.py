"""``make bench``: every benchmark, one after the other, tables to stdout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

SCRIPTS = (
    "server_bench.py",
    "stream_bench.py",
    "pipeline_bench.py",
    "calls_per_job.py",
    "client_bench.py",
    "dedupe_bench.py",
)

for script in SCRIPTS:
    print(f"\n## {script}\n", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True)
