"""Images with known text for the OCR tests, rendered with a Debian font."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"
BODY_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def two_line_ad() -> tuple[bytes, tuple[int, int, int, int]]:
    """"SUMMER SALE TODAY" over "Shop now online"; returns the PNG and the top line's box."""
    image = Image.new("RGB", (640, 220), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 44)
    draw.text((24, 24), "SUMMER SALE TODAY", font=font, fill=(20, 20, 20))
    draw.text((24, 130), "Shop now online", font=font, fill=(10, 30, 120))
    return png_bytes(image), (0, 0, 640, 100)


def dense_page(width: int = 2000, height: int = 1400, seed: int = 0) -> bytes:
    """A page packed with small text: seconds of Tesseract work, for deadline tests."""
    words = "alpha beta gamma delta summer sale shop now free delivery limited offer today only".split()
    rng = random.Random(seed)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(BODY_FONT, 22)
    for y in range(10, height - 30, 30):
        draw.text((10, y), " ".join(rng.choice(words) for _ in range(width // 100)), font=font, fill=0)
    return png_bytes(image)
