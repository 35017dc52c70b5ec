"""The labelled OCR evaluation set: ad-like images rendered from a seed, plus real text images
that ship in packages (truth written down in `eval_truth.json`).

Rendered ads lay a headline, a sub-line, a call-to-action button and small print over a real
photo from `skimage.data`, in several Liberation/DejaVu fonts, sizes and colours, some blocks
rotated by a few degrees. Each ad also carries a logo (a brand name in a box) whose box is the
exclusion region: its words are not truth, and finding them counts as a leak.
"""

from __future__ import annotations

import io
import json
import random
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from creativelens.ocr_service.results import Box

DEFAULT_SEED = 20261123
FONT_DIRS = ("/usr/share/fonts/truetype/liberation", "/usr/share/fonts/truetype/dejavu")
# Only fonts in fonts-liberation and fonts-dejavu-core, which scripts/setup.sh installs.
HEADLINE_FONTS = ("LiberationSans-Bold", "DejaVuSans-Bold", "LiberationSerif-Bold",
                  "DejaVuSerif-Bold", "LiberationSansNarrow-Bold", "LiberationMono-Bold")
BODY_FONTS = ("LiberationSans-Regular", "DejaVuSans", "LiberationSerif-Regular",
              "DejaVuSerif", "LiberationSans-Italic", "LiberationSansNarrow-Regular")
AD_SIZES = ((1080, 1080), (1200, 628), (1080, 1350))
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry",
          "hubble_deep_field", "retina", "coins", "grass", "gravel", "brick", "motorcycle")

HEADLINES = ("Summer Sale", "Fresh Deals Daily", "New Season Arrivals", "Big Weekend Savings",
             "Taste the Difference", "Built for Speed", "Holiday Gift Guide", "Back to School",
             "Clearance Event", "Brew Your Best Morning", "Explore More Places", "Limited Edition")
SUBLINES = ("Up to 50% off selected styles", "Free delivery on all orders over 30",
            "Discover our new collection online", "Only while stocks last this week",
            "Join thousands of happy customers", "Premium quality at everyday prices",
            "Book now and save on your next trip", "Handmade with natural ingredients")
CALLS_TO_ACTION = ("Shop now", "Learn more", "Order today", "Book now", "Get started", "Sign up")
SMALL_PRINT = ("Terms and conditions apply", "Offer ends Sunday at midnight",
               "Prices include local taxes", "Available in participating stores only")
BRANDS = ("Brightline", "Zentro", "Nordvik", "Calla Foods", "Orbit Coffee", "Velo Works")


def tokens(text: str) -> list[str]:
    """Words as the evaluation compares them: lower case, split on anything not a letter/digit."""
    return re.findall(r"[a-z0-9]+", text.lower())


@dataclass
class EvalImage:
    name: str
    kind: str  # "rendered" or "real"
    image: bytes  # PNG
    truth: list[str]
    exclusion_boxes: list[Box] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # words inside the exclusion boxes


def build_eval_set(
    rendered: int = 24, seed: int = DEFAULT_SEED, include_real: bool = True
) -> tuple[list[EvalImage], list[str]]:
    """The whole set and a note for every real image that could not be found."""
    images = [render_ad(index, seed) for index in range(rendered)]
    if not include_real:
        return images, []
    real, missing = package_text_images()
    return images + real, missing


def package_text_images() -> tuple[list[EvalImage], list[str]]:
    truth = json.loads((resources.files("creativelens.ocr_service") / "eval_truth.json").read_text())
    images, missing = [], []
    for entry in truth["images"]:
        source = entry["source"]
        if source.startswith("skimage.data."):
            import skimage.data

            pixels = getattr(skimage.data, source.rsplit(".", 1)[1])()
            image = _png(Image.fromarray(pixels))
        elif Path(source).exists():
            image = Path(source).read_bytes()
        else:
            missing.append(f"{entry['name']}: {source} not found (is Debian's opencv-doc installed?)")
            continue
        images.append(EvalImage(entry["name"], "real", image, tokens(entry["text"])))
    return images, missing


def render_ad(index: int, seed: int = DEFAULT_SEED) -> EvalImage:
    rng = random.Random(seed * 1000 + index)
    width, height = rng.choice(AD_SIZES)
    canvas = _photo_background(rng.choice(PHOTOS), width, height, rng).convert("RGBA")
    scale = min(width, height) / 1080
    margin = int(50 * scale)
    truth: list[str] = []

    brand = rng.choice(BRANDS)
    logo = _text_block(brand, _font(rng.choice(HEADLINE_FONTS), int(rng.randint(34, 46) * scale)),
                       fill=(255, 255, 255), box_fill=_random_colour(rng, dark=True), padding=int(18 * scale))
    logo_at = (width - margin - logo.width, margin) if rng.random() < 0.5 else (margin, margin)
    canvas.alpha_composite(logo, logo_at)
    logo_box = (logo_at[0], logo_at[1], logo_at[0] + logo.width, logo_at[1] + logo.height)

    y = logo_box[3] + int(40 * scale)
    light_text = rng.random() < 0.6
    text_colour = (255, 255, 255) if light_text else (20, 20, 30)
    outline = (0, 0, 0) if light_text else (255, 255, 255)
    band = rng.random() < 0.5
    blocks = [
        (rng.choice(HEADLINES), HEADLINE_FONTS, rng.randint(72, 110)),
        (rng.choice(SUBLINES), BODY_FONTS, rng.randint(34, 48)),
    ]
    for text, fonts, size in blocks:
        if rng.random() < 0.3:
            text = text.upper()
        font = _font(rng.choice(fonts), int(size * scale))
        block = _text_block(
            text, font, fill=text_colour, stroke=outline if not band else None,
            box_fill=(*outline, 150) if band else None, padding=int(12 * scale),
            max_width=width - 2 * margin,
        )
        block = block.rotate(rng.uniform(-4, 4), resample=Image.BICUBIC, expand=True)
        canvas.alpha_composite(block, (margin, y))
        truth += tokens(text)
        y += block.height + int(30 * scale)

    action = rng.choice(CALLS_TO_ACTION)
    button = _text_block(action, _font(rng.choice(HEADLINE_FONTS), int(rng.randint(34, 44) * scale)),
                         fill=(255, 255, 255), box_fill=_random_colour(rng, dark=True), padding=int(22 * scale))
    canvas.alpha_composite(button, (margin, min(y, height - 2 * margin - button.height - int(40 * scale))))
    truth += tokens(action)

    small = rng.choice(SMALL_PRINT)
    print_block = _text_block(small, _font(rng.choice(BODY_FONTS), int(rng.randint(22, 28) * scale)),
                              fill=(255, 255, 255), box_fill=(0, 0, 0, 170), padding=int(8 * scale))
    canvas.alpha_composite(print_block, (margin, height - margin - print_block.height))
    truth += tokens(small)

    return EvalImage(
        name=f"rendered/ad-{index:02d}-{width}x{height}", kind="rendered",
        image=_png(canvas.convert("RGB")), truth=truth,
        exclusion_boxes=[logo_box], excluded=tokens(brand),
    )


def _photo_background(name: str, width: int, height: int, rng: random.Random) -> Image.Image:
    import skimage.data

    pixels = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    if pixels.dtype != np.uint8:
        pixels = (255 * (pixels - pixels.min()) / max(1e-9, np.ptp(pixels))).astype(np.uint8)
    photo = Image.fromarray(pixels).convert("RGB")
    target = width / height
    crop_w = min(photo.width, int(photo.height * target))
    crop_h = int(crop_w / target)
    left = rng.randint(0, photo.width - crop_w)
    top = rng.randint(0, photo.height - crop_h)
    return photo.crop((left, top, left + crop_w, top + crop_h)).resize((width, height), Image.BICUBIC)


def _text_block(
    text: str, font: ImageFont.FreeTypeFont, fill, stroke=None, box_fill=None, padding: int = 0,
    max_width: int | None = None,
) -> Image.Image:
    """Text on a transparent (or filled) layer, wrapped to `max_width` if given."""
    lines = _wrap(text, font, max_width - 2 * padding) if max_width else [text]
    stroke_width = max(1, font.size // 22) if stroke else 0
    line_height = int(font.size * 1.25)
    text_width = max(int(font.getlength(line)) for line in lines) + 2 * stroke_width
    layer = Image.new("RGBA", (text_width + 2 * padding, line_height * len(lines) + 2 * padding), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    if box_fill is not None:
        draw.rounded_rectangle((0, 0, layer.width - 1, layer.height - 1), radius=padding, fill=box_fill)
    for row, line in enumerate(lines):
        draw.text((padding + stroke_width, padding + row * line_height), line, font=font, fill=fill,
                  stroke_width=stroke_width, stroke_fill=stroke)
    return layer


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and font.getlength(candidate) > max_width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return lines + [current]


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    for folder in FONT_DIRS:
        path = Path(folder) / f"{name}.ttf"
        if path.exists():
            return ImageFont.truetype(str(path), size)
    raise FileNotFoundError(f"font {name}.ttf not found in {FONT_DIRS} (install fonts-liberation, fonts-dejavu-core)")


def _random_colour(rng: random.Random, dark: bool) -> tuple[int, int, int]:
    low, high = (20, 120) if dark else (150, 240)
    return tuple(rng.randint(low, high) for _ in range(3))


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
