"""Read PNG/JPEG/WebP bytes into 8-bit RGB plus optional alpha, orientation applied."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from bgcut_stream.imaging.exceptions import (
    CorruptImageError,
    TooManyPixelsError,
    UnsupportedImageError,
)

SUPPORTED_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
DEFAULT_MAX_PIXELS = 100_000_000

Pixels = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ImageInfo:
    """What the header says: format extension and size."""

    extension: str
    width: int
    height: int


@dataclass
class DecodedImage:
    """An upright 8-bit RGB image and, when the input had one, its alpha channel."""

    rgb: Pixels
    alpha: Pixels | None

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int(self.rgb.shape[0])


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Our own limit below decides; Pillow's hard error still guards absurd sizes.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise TooManyPixelsError(f"Image exceeds the {max_pixels}-pixel limit") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImageError("Corrupt or unreadable image") from exc
    if image.format not in SUPPORTED_FORMATS:
        raise UnsupportedImageError(
            f"Unsupported image format: {image.format}. Supported: PNG, JPG, JPEG, WebP"
        )
    width, height = image.size
    if width * height > max_pixels:
        raise TooManyPixelsError(
            f"Image of {width}x{height} pixels exceeds the {max_pixels}-pixel limit"
        )
    return image


def inspect(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Check format and pixel count from the header, then verify the whole stream decodes."""
    image = _open(data, max_pixels)
    info = ImageInfo(SUPPORTED_FORMATS[str(image.format)], image.size[0], image.size[1])
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError("Corrupt or unreadable image") from exc
    return info


def _to_8bit(image: Image.Image) -> Image.Image:
    if image.mode in {"I;16", "I;16B", "I;16L", "I"}:
        wide = np.asarray(image, dtype=np.uint32)
        shift = 8 if image.mode != "I" or int(wide.max(initial=0)) > 255 else 0
        return Image.fromarray((wide >> shift).clip(0, 255).astype(np.uint8), mode="L")
    if image.mode == "F":
        return Image.fromarray(np.asarray(image).clip(0, 255).astype(np.uint8), mode="L")
    return image


def decode(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode to upright RGB (+ alpha): EXIF orientation, palette, gray, CMYK and 16-bit handled."""
    image = _open(data, max_pixels)
    try:
        image.load()
        upright = ImageOps.exif_transpose(image) or image
        upright = _to_8bit(upright)
        has_alpha = upright.mode in {"RGBA", "LA", "PA"} or (
            upright.mode == "P" and "transparency" in upright.info
        )
        if has_alpha:
            rgba = np.asarray(upright.convert("RGBA"))
            return DecodedImage(
                rgb=np.ascontiguousarray(rgba[:, :, :3]), alpha=rgba[:, :, 3].copy()
            )
        return DecodedImage(rgb=np.asarray(upright.convert("RGB")), alpha=None)
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError("Corrupt or unreadable image") from exc
