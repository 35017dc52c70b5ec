"""Encoded image bytes → pixels, refusing what is not an image or is too large to OCR."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 40_000_000
MAX_SIDE = 32_767  # Tesseract's (and Leptonica's) largest width or height


class InvalidImage(ValueError):
    """The bytes are not a decodable image, or the image is over the pixel limit."""


def _open(data: bytes, max_pixels: int) -> Image.Image:
    if not data:
        raise InvalidImage("the image is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise InvalidImage(f"the image is over the pixel limit: {error}") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise InvalidImage(
            f"the {len(data)} bytes are not an image Pillow can read ({error.__class__.__name__})"
        ) from None
    width, height = image.size
    if max(width, height) > MAX_SIDE:
        raise InvalidImage(f"the image is {width}x{height}: a side over {MAX_SIDE} pixels cannot be read")
    if width * height > max_pixels:
        raise InvalidImage(
            f"the image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}"
        )
    return image


def probe(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) from the header alone; raises InvalidImage."""
    return _open(data, max_pixels).size


def decode(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Pixels as uint8 (H, W) grey or (H, W, 3) RGB; transparency is laid over white."""
    image = _open(data, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
    except (OSError, ValueError, SyntaxError) as error:
        raise InvalidImage(f"the image data is damaged or truncated: {error}") from None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image).convert("RGB")
    elif image.mode != "L":
        image = image.convert("RGB")
    return np.asarray(image)
