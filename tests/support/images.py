"""Test images: bundled scikit-image photos and generated scenes with known masks."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

SKIMAGE_DATA = Path(__import__("skimage").__file__).parent / "data"


def sample_photo(name: str = "astronaut") -> bytes:
    """A bundled photo from the scikit-image wheel as PNG bytes."""
    return (SKIMAGE_DATA / f"{name}.png").read_bytes()


def encode(array: np.ndarray, fmt: str = "PNG", **params: object) -> bytes:
    """Encode an array with Pillow."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **params)
    return buffer.getvalue()


def disc_scene(width: int = 320, height: int = 240, seed: int = 7) -> tuple[bytes, np.ndarray]:
    """A warm textured disc on a cool noisy background: PNG bytes and the true mask (bool)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    cx, cy, r = width * 0.55, height * 0.5, min(width, height) * 0.3
    mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
    image = np.empty((height, width, 3), np.float32)
    image[..., 0] = 40 + 30 * (xx / width)
    image[..., 1] = 90 + 40 * (yy / height)
    image[..., 2] = 170
    image += rng.normal(0, 12, image.shape)
    image[mask] = np.array([225, 120, 40]) + rng.normal(0, 10, (int(mask.sum()), 3))
    return encode(image.clip(0, 255).astype(np.uint8)), mask


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks."""
    union = np.logical_or(predicted, truth).sum()
    return float(np.logical_and(predicted, truth).sum() / union) if union else 1.0


def two_objects_scene(seed: int = 7) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A warm disc and a yellow square on a cool noisy background: PNG and both true masks."""
    width, height = 320, 240
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    disc = (xx - 100) ** 2 + (yy - 120) ** 2 <= 55**2
    square = (xx >= 210) & (xx < 290) & (yy >= 80) & (yy < 160)
    image = np.empty((height, width, 3), np.float32)
    image[..., 0] = 40 + 30 * (xx / width)
    image[..., 1] = 90 + 40 * (yy / height)
    image[..., 2] = 170
    image += rng.normal(0, 12, image.shape)
    for mask, colour in ((disc, (225, 120, 40)), (square, (230, 200, 40))):
        image[mask] = np.array(colour) + rng.normal(0, 10, (int(mask.sum()), 3))
    return encode(image.clip(0, 255).astype(np.uint8)), disc, square
