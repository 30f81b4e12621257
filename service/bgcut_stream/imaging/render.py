"""Render one output variant from an image and its mask: crop, scale, composite, encode."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from bgcut_stream.api.models import OutputVariant
from bgcut_stream.imaging.decode import DecodedImage, Pixels

PNG_COMPRESS_LEVEL = 1  # zlib level 1: encoding, not inference, dominates large cutouts
WEBP_METHOD = 3
COMPOSITE_ROWS = 256


@dataclass(frozen=True)
class RenderedVariant:
    """Encoded bytes of one variant and its geometry."""

    data: bytes
    width: int
    height: int
    content_type: str


def subject_bbox(alpha: Pixels) -> tuple[int, int, int, int] | None:
    """Bounding box ``(x0, y0, x1, y1)`` (exclusive ends) of non-transparent pixels, or None."""
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(alpha.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def fit_within(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """Scale ``width x height`` down proportionally so the product is <= max_pixels; never up."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    new_w, new_h = max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
    while new_w * new_h > max_pixels and (new_w > 1 or new_h > 1):
        if new_w >= new_h:
            new_w -= 1
        else:
            new_h -= 1
    return new_w, new_h


def parse_hex(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` (any case) to an RGB tuple."""
    value = int(color[1:], 16)
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


def combined_alpha(image: DecodedImage, mask: Pixels) -> Pixels:
    """The model's mask, multiplied by the input's own alpha when it had one."""
    if image.alpha is None:
        return mask
    product = mask.astype(np.uint16) * image.alpha
    return (product // 255).astype(np.uint8)


def render(image: DecodedImage, alpha: Pixels, variant: OutputVariant) -> RenderedVariant:
    """Apply autocrop, max_resolution, background_color and format/compression of ``variant``."""
    rgb = image.rgb
    if variant.autocrop:
        box = subject_bbox(alpha)
        if box is not None:
            x0, y0, x1, y1 = box
            rgb, alpha = rgb[y0:y1, x0:x1], alpha[y0:y1, x0:x1]
    height, width = alpha.shape
    new_w, new_h = fit_within(width, height, variant.max_resolution)
    if (new_w, new_h) != (width, height):
        rgb = np.asarray(cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA), np.uint8)
        alpha = np.asarray(
            cv2.resize(alpha, (new_w, new_h), interpolation=cv2.INTER_AREA), np.uint8
        )
    if variant.background_color is not None:
        pixels = _composite(rgb, alpha, parse_hex(variant.background_color))
    elif variant.format == "png":
        return RenderedVariant(_png_bgra(rgb, alpha), new_w, new_h, variant.content_type)
    else:
        pixels = np.dstack([rgb, alpha])
    return RenderedVariant(_encode(pixels, variant), new_w, new_h, variant.content_type)


def _composite(rgb: Pixels, alpha: Pixels, color: tuple[int, int, int]) -> Pixels:
    """Blend over a solid colour in bands of rows, so big images need no full uint16 copies."""
    out = np.empty_like(rgb)
    background = np.array(color, dtype=np.uint16)
    for top in range(0, rgb.shape[0], COMPOSITE_ROWS):
        band = slice(top, top + COMPOSITE_ROWS)
        a = alpha[band, :, None].astype(np.uint16)
        mixed = rgb[band].astype(np.uint16) * a
        mixed += background * (255 - a)
        mixed += 127
        mixed //= 255
        out[band] = mixed
    return out


def _png_bgra(rgb: Pixels, alpha: Pixels) -> bytes:
    """A transparent PNG, channels laid out for OpenCV in one allocation."""
    bgra = np.empty((*alpha.shape, 4), np.uint8)
    bgra[:, :, 0], bgra[:, :, 1], bgra[:, :, 2] = rgb[:, :, 2], rgb[:, :, 1], rgb[:, :, 0]
    bgra[:, :, 3] = alpha
    return _png(bgra, already_bgr=True)


def _encode(pixels: Pixels, variant: OutputVariant) -> bytes:
    if variant.format == "png":
        return _png(pixels)
    buffer = io.BytesIO()
    picture = Image.fromarray(pixels)
    if variant.format == "jpg":
        picture.save(buffer, format="JPEG", quality=variant.output_compression)
    else:
        picture.save(buffer, format="WEBP", quality=variant.output_compression, method=WEBP_METHOD)
    return buffer.getvalue()


def _png(pixels: Pixels, *, already_bgr: bool = False) -> bytes:
    """PNG through OpenCV: zlib level 1 with the RLE strategy is faster and smaller on cutouts."""
    if not already_bgr:
        code = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
        pixels = np.asarray(cv2.cvtColor(pixels, code), np.uint8)
    ok, encoded = cv2.imencode(
        ".png",
        pixels,
        [
            cv2.IMWRITE_PNG_COMPRESSION,
            PNG_COMPRESS_LEVEL,
            cv2.IMWRITE_PNG_STRATEGY,
            cv2.IMWRITE_PNG_STRATEGY_RLE,
        ],
    )
    if not ok:
        raise ValueError("PNG encoding failed")
    return encoded.tobytes()
