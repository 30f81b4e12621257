"""Our server vs rembg 2.x on the same u2netp model: three output files per image size.

For each size (0.25, 1, 4, 12 MP) and a fresh upload each time (so inference is included):
- ours, one request: one process call with 3 variants (full PNG, 250k-pixel WebP thumbnail with
  autocrop, white-background JPG); the request is timed, the outputs are downloaded afterwards;
- ours, three requests: the same 3 variants as 3 single-variant process calls (the 2nd and 3rd
  reuse the cached mask);
- rembg: remove() then the same 3 files with Pillow, in bench/.venv-rembg.
Peak RSS: the server process per size (fresh server), rembg's process per size.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import peak_rss_mib, photo_of, server_process, table

SIZES = [0.25, 1.0, 4.0, 12.0]
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
VARIANTS = [
    {"variant_name": "full", "format": "png"},
    {
        "variant_name": "thumb",
        "format": "webp",
        "max_resolution": 250_000,
        "autocrop": True,
        "output_compression": 80,
    },
    {"variant_name": "white", "format": "jpg", "background_color": "#ffffff"},
]
REMBG_PY = Path(__file__).parent / ".venv-rembg" / "bin" / "python"
AUTH = {"Authorization": "Bearer bench"}


def _upload(client: httpx.Client, data: bytes) -> str:
    response = client.post("/v3/remove-bg/upload-image/", files={"image": ("p.png", data)})
    response.raise_for_status()
    return str(response.json()["unique_filename"])


def _process(client: httpx.Client, unique: str, variants: list[dict[str, object]]) -> float:
    """Seconds the process request took (its outputs are then downloaded, untimed)."""
    started = time.perf_counter()
    response = client.post(
        "/v3/remove-bg/process-image/",
        json={"unique_filename": unique, "output_variants": variants},
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    for url in response.json()["output_urls"].values():
        client.get(url).raise_for_status()
    return elapsed


def ours(data: bytes, work: Path) -> tuple[float, float, float]:
    """(median one-request s, median three-requests s, server peak RSS MiB)."""
    with (
        server_process(work / "server") as (url, proc),
        httpx.Client(base_url=url, headers=AUTH, timeout=600) as client,
    ):
        _process(client, _upload(client, data), VARIANTS)  # warm-up
        one, three = [], []
        for _ in range(REPEATS):
            one.append(_process(client, _upload(client, data), VARIANTS))
            unique = _upload(client, data)
            three.append(sum(_process(client, unique, [variant]) for variant in VARIANTS))
        return statistics.median(one), statistics.median(three), peak_rss_mib(proc.pid)


def rembg(image: Path, model_home: Path) -> tuple[float, float]:
    """(median seconds, peak RSS MiB) of the rembg side."""
    env = {**os.environ, "U2NET_HOME": str(model_home), "OMP_NUM_THREADS": str(os.cpu_count())}
    out = subprocess.run(
        [str(REMBG_PY), str(Path(__file__).parent / "rembg_side.py"), str(image), str(REPEATS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return statistics.median(result["seconds"]), result["peak_rss_mib"]


def main() -> None:
    from bgcut_stream.imaging.saliency import model_path  # noqa: PLC0415 - imported when used (start-up stays light)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_home = work / "u2net"
        model_home.mkdir()
        shutil.copy(model_path(), model_home / "u2netp.onnx")
        rows = []
        for mp in SIZES:
            image = work / f"{mp}.png"
            image.write_bytes(photo_of(mp))
            one, three, rss = ours(image.read_bytes(), work / f"s{mp}")
            theirs, their_rss = (
                rembg(image, model_home) if REMBG_PY.exists() else (float("nan"),) * 2
            )
            rows.append(
                [
                    f"{mp:g} MP",
                    f"{one:.3f}",
                    f"{three:.3f}",
                    f"{theirs:.3f}",
                    f"{three / one:.2f}x",
                    f"{theirs / one:.2f}x",
                    f"{rss:.0f}",
                    f"{their_rss:.0f}",
                ]
            )
            print(f"done {mp} MP", file=sys.stderr)
    print(
        table(
            [
                "size",
                "ours 1 req (s)",
                "ours 3 req (s)",
                "rembg (s)",
                "3 req / 1 req",
                "rembg / ours",
                "ours peak RSS MiB",
                "rembg peak RSS MiB",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
