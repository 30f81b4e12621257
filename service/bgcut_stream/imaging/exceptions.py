"""Errors raised while reading images; the server maps them to 400 and 413."""


class ImageError(Exception):
    """An image could not be used."""


class UnsupportedImageError(ImageError):
    """The bytes are an image, but not PNG, JPEG or WebP."""


class CorruptImageError(ImageError):
    """The bytes are not a decodable image."""


class TooManyPixelsError(ImageError):
    """The image's declared size exceeds the pixel limit (decompression-bomb guard)."""
