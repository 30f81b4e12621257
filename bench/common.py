"""Helpers shared by the benchmarks: test images, a server process, peak RSS, table printing."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from bgcut_stream import localstack

free_port = localstack.free_port  # the benchmarks import it from here

SKIMAGE_DATA = Path(__import__("skimage").__file__).parent / "data"


def photo_of(megapixels: float, name: str = "astronaut") -> bytes:
    """The bundled photo resized to about ``megapixels`` MP, as PNG (level 1)."""
    base = Image.open(SKIMAGE_DATA / f"{name}.png").convert("RGB")
    scale = (megapixels * 1e6 / (base.width * base.height)) ** 0.5
    size = (round(base.width * scale), round(base.height * scale))
    buffer = io.BytesIO()
    base.resize(size, Image.Resampling.BICUBIC).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def noise_png(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A tiny distinct PNG."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server_process(data_dir: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Our server as a separate process (key 'bench' with plenty of credits)."""
    with localstack.server_process(
        data_dir,
        keys="bench:1000000",
        env={"BGCUT_SERVER_RATE_LIMIT_PER_S": "0", **env},
        args=["--log-level", "warning"],
    ) as server:
        yield server.url, server.proc


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
