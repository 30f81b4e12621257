"""Runs inside bench/.venv-rembg: rembg 2.x with the same u2netp model makes the same three files.

Usage: python rembg_side.py IMAGE REPEATS -> prints JSON {"seconds": [...], "peak_rss_mib": x}
"""

import io
import json
import resource
import sys
import time
from pathlib import Path

from PIL import Image
from rembg import new_session, remove


def three_files(session, data):
    cut = remove(data, session=session)  # PNG bytes of the RGBA cutout
    rgba = Image.open(io.BytesIO(cut))
    rgba.load()
    full = io.BytesIO()
    rgba.save(full, format="PNG")
    box = rgba.getchannel("A").getbbox()
    thumb_src = rgba.crop(box) if box else rgba
    scale = min(1.0, (250_000 / (thumb_src.width * thumb_src.height)) ** 0.5)
    thumb = thumb_src.resize(
        (max(1, int(thumb_src.width * scale)), max(1, int(thumb_src.height * scale)))
    )
    webp = io.BytesIO()
    thumb.save(webp, format="WEBP", quality=80)
    white = Image.new("RGB", rgba.size, (255, 255, 255))
    white.paste(rgba, mask=rgba.getchannel("A"))
    jpg = io.BytesIO()
    white.save(jpg, format="JPEG", quality=85)


def main():
    data = Path(sys.argv[1]).read_bytes()
    repeats = int(sys.argv[2])
    session = new_session("u2netp")
    three_files(session, data)  # warm-up
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        three_files(session, data)
        seconds.append(time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak}))


main()
