"""``make bench``: every benchmark, one after the other, tables to stdout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

for script in ("server_bench.py", "stream_bench.py", "pipeline_bench.py", "dedupe_bench.py"):
    print(f"\n## {script}\n", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True)
