"""The labelled OCR evaluation set, in two splits that share no font, layout or background:

- `tuning` (what engine defaults may be chosen on): ad-like images rendered from a seed, harder
  creatives (one challenge each), plus real text images that ship in packages.
- `held-out` (judged on, never tuned on): `eval_held_out.py` renders creatives with other fonts
  (Noto, FreeFont, URW base35, Comfortaa), other layouts (centred, right-aligned, bottom-anchored,
  split panel), other backgrounds (opencv-doc photos, skimage pictures the tuning split never uses,
  drawn gradients and patterns) and other words, plus other real package images.

Real images' truth is in `eval_truth.json` (each entry names its split).

The tuning split:

Rendered ads (subset "rendered") lay a headline, a sub-line, a call-to-action button and small
print over a real photo from `skimage.data`, in several Liberation/DejaVu fonts, sizes and
colours, some blocks rotated by a few degrees. Hard creatives put two or three text blocks on a
photo with one challenge each (`CHALLENGES`): busy photo regions without a band, light text on a
dark picture, outlined text, 8-16 px text, 120-200 px text, 5-15 degree rotation. Every rendered
image carries a logo (a brand name, boxed or bare) whose box is the exclusion region: its words
are not truth, and finding them counts as a leak. Rendered truth words come with their boxes
(x1, y1, x2, y2 in image pixels, rotation included); the real images' truth has words only.
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
SPLITS = ("tuning", "held-out")
# Layout names, recorded on every image so a test can check the splits never share one.
TUNING_LAYOUTS = ("left-stack", "stack-at-random-x")
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
CHALLENGES = ("busy-photo", "light-on-dark", "outlined", "small-text", "large-text", "rotated")
BUSY_PHOTOS = ("grass", "gravel", "brick", "coins", "chelsea", "astronaut", "hubble_deep_field", "rocket")
SHORT_TEXTS = ("Sale", "New", "Save 30%", "Shop now", "Fresh", "Free gift", "Order today", "Big Deals")
HARD_SEED_OFFSET = 500  # hard creatives draw from their own random streams


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
    truth_boxes: list[Box] = field(default_factory=list)  # one per truth word, or none (real images)
    text_heights: list[int] = field(default_factory=list)  # font size in px of each text block
    split: str = "tuning"
    fonts: list[str] = field(default_factory=list)  # font file stems used, logo included
    layout: str = ""  # one of TUNING_LAYOUTS / eval_held_out.HELD_OUT_LAYOUTS, or "real"
    background: str = ""  # photo or pattern behind the text (the source, for real images)


def build_eval_set(
    rendered: int = 24, seed: int = DEFAULT_SEED, include_real: bool = True, hard: int = 72,
    split: str = "tuning", held_out: int = 64,
) -> tuple[list[EvalImage], list[str]]:
    """One split and a note for every real image that could not be found. Tuning: `rendered`
    ads and `hard` creatives cycling through `CHALLENGES` (`hard=72` gives 12 of each);
    held-out: `held_out` creatives cycling through `eval_held_out.HELD_OUT_KINDS`."""
    if split == "tuning":
        images = [render_ad(index, seed) for index in range(rendered)]
        images += [render_hard_ad(index, seed) for index in range(hard)]
    elif split == "held-out":
        from creativelens.ocr_service.eval_held_out import render_held_out_ad

        images = [render_held_out_ad(index, seed) for index in range(held_out)]
    else:
        raise ValueError(f"unknown evaluation split {split!r}; known: {', '.join(SPLITS)}")
    if not include_real:
        return images, []
    real, missing = package_text_images(split)
    return images + real, missing


def package_text_images(split: str = "tuning") -> tuple[list[EvalImage], list[str]]:
    truth = json.loads((resources.files("creativelens.ocr_service") / "eval_truth.json").read_text())
    images, missing = [], []
    for entry in truth["images"]:
        if entry.get("split", "tuning") != split:
            continue
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
        images.append(EvalImage(entry["name"], "real", image, tokens(entry["text"]), split=split,
                                layout="real", background=source))
    return images, missing


def render_ad(index: int, seed: int = DEFAULT_SEED) -> EvalImage:
    rng = random.Random(seed * 1000 + index)
    width, height = rng.choice(AD_SIZES)
    photo = rng.choice(PHOTOS)
    canvas = _photo_background(photo, width, height, rng).convert("RGBA")
    scale = min(width, height) / 1080
    margin = int(50 * scale)
    truth = _Truth()

    brand = rng.choice(BRANDS)
    logo_font = _font(rng.choice(HEADLINE_FONTS), int(rng.randint(34, 46) * scale))
    truth.used(logo_font)
    logo = _text_block(brand, logo_font,
                       fill=(255, 255, 255), box_fill=_random_colour(rng, dark=True), padding=int(18 * scale))
    logo_at = (width - margin - logo.image.width, margin) if rng.random() < 0.5 else (margin, margin)
    canvas.alpha_composite(logo.image, logo_at)
    logo_box = (logo_at[0], logo_at[1], logo_at[0] + logo.image.width, logo_at[1] + logo.image.height)

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
        placed = _place(canvas, block, (margin, y), rng.uniform(-4, 4))
        truth.add(placed, font.size, font)
        y += placed.image.height + int(30 * scale)

    action = rng.choice(CALLS_TO_ACTION)
    button_font = _font(rng.choice(HEADLINE_FONTS), int(rng.randint(34, 44) * scale))
    button = _text_block(action, button_font, fill=(255, 255, 255),
                         box_fill=_random_colour(rng, dark=True), padding=int(22 * scale))
    button_y = min(y, height - 2 * margin - button.image.height - int(40 * scale))
    truth.add(_place(canvas, button, (margin, button_y)), button_font.size, button_font)

    small = rng.choice(SMALL_PRINT)
    print_font = _font(rng.choice(BODY_FONTS), int(rng.randint(22, 28) * scale))
    print_block = _text_block(small, print_font, fill=(255, 255, 255), box_fill=(0, 0, 0, 170), padding=int(8 * scale))
    truth.add(_place(canvas, print_block, (margin, height - margin - print_block.image.height)), print_font.size,
              print_font)

    return EvalImage(
        name=f"rendered/ad-{index:02d}-{width}x{height}", kind="rendered",
        image=_png(canvas.convert("RGB")), truth=truth.words,
        exclusion_boxes=[logo_box], excluded=tokens(brand),
        truth_boxes=truth.boxes, text_heights=truth.heights,
        fonts=sorted(truth.fonts), layout="left-stack", background=photo,
    )


def render_hard_ad(index: int, seed: int = DEFAULT_SEED) -> EvalImage:
    """A creative built around one of `CHALLENGES` (index modulo their number), with two or
    three text blocks and a logo to exclude."""
    challenge = CHALLENGES[index % len(CHALLENGES)]
    rng = random.Random((seed + HARD_SEED_OFFSET) * 1000 + index)
    width, height = rng.choice(AD_SIZES)
    photo = rng.choice(BUSY_PHOTOS if challenge == "busy-photo" else PHOTOS)
    canvas = _photo_background(photo, width, height, rng)
    if challenge == "light-on-dark":
        canvas = Image.eval(canvas, lambda value: int(value * rng.uniform(0.15, 0.35)))
    canvas = canvas.convert("RGBA")
    scale = min(width, height) / 1080
    margin = int(rng.randint(30, 70) * scale)
    truth = _Truth()

    brand = rng.choice(BRANDS)
    logo_font = _font(rng.choice(HEADLINE_FONTS), int(rng.randint(30, 56) * scale))
    truth.used(logo_font)
    boxed_logo = rng.random() < 0.5
    logo = _text_block(brand, logo_font, fill=(255, 255, 255) if boxed_logo else _random_colour(rng, dark=False),
                       box_fill=_random_colour(rng, dark=True) if boxed_logo else None,
                       stroke=None if boxed_logo else (0, 0, 0), padding=int(16 * scale))
    logo_at = (width - margin - logo.image.width, margin) if rng.random() < 0.5 else (margin, margin)
    canvas.alpha_composite(logo.image, logo_at)
    logo_box = (logo_at[0], logo_at[1], logo_at[0] + logo.image.width, logo_at[1] + logo.image.height)

    y = logo_box[3] + int(rng.randint(20, 60) * scale)
    for block_index in range(rng.choice((2, 3))):
        text, fonts, size = _hard_block_text(challenge, block_index, rng)
        font = _font(rng.choice(fonts), max(8, int(size * (scale if size > 16 else 1))))
        fill, stroke, box_fill = _hard_block_colours(challenge, canvas, y, rng)
        block = _text_block(text, font, fill=fill, stroke=stroke, box_fill=box_fill,
                            padding=int(10 * scale), max_width=width - 2 * margin,
                            stroke_width=max(2, font.size // 12) if challenge == "outlined" else None)
        angle = rng.choice((-1, 1)) * rng.uniform(5, 15) if challenge == "rotated" else rng.uniform(-3, 3)
        rotated = block.rotated(angle)
        x = rng.randint(margin, max(margin, width - margin - rotated.image.width))
        if y + rotated.image.height > height - margin or rotated.image.width > width:
            break  # no room left: the creative keeps the blocks placed so far
        truth.add(_place(canvas, rotated, (x, y)), font.size, font)
        y += rotated.image.height + int(rng.randint(20, 80) * scale)

    return EvalImage(
        name=f"{challenge}/ad-{index:02d}-{width}x{height}", kind=challenge,
        image=_png(canvas.convert("RGB")), truth=truth.words,
        exclusion_boxes=[logo_box], excluded=tokens(brand),
        truth_boxes=truth.boxes, text_heights=truth.heights,
        fonts=sorted(truth.fonts), layout="stack-at-random-x", background=photo,
    )


def _hard_block_text(challenge: str, block_index: int, rng: random.Random) -> tuple[str, tuple[str, ...], int]:
    """(text, font family, font size in px before scaling; 16 px or less is never scaled)."""
    if challenge == "small-text":
        return rng.choice(SUBLINES + SMALL_PRINT), BODY_FONTS, rng.randint(8, 16)
    if challenge == "large-text" and block_index == 0:
        return rng.choice(SHORT_TEXTS), HEADLINE_FONTS, rng.randint(120, 200)
    if block_index == 0:
        return rng.choice(HEADLINES), HEADLINE_FONTS, rng.randint(60, 110)
    return rng.choice(SUBLINES + CALLS_TO_ACTION + SMALL_PRINT), BODY_FONTS, rng.randint(28, 48)


def _hard_block_colours(challenge: str, canvas: Image.Image, y: int, rng: random.Random):
    """(fill, stroke, box fill) for one block; text on photos contrasts with the strip it lies on."""
    strip = np.asarray(canvas.convert("L"))[y:y + 120]
    dark_behind = strip.size == 0 or strip.mean() < 128
    light, dark = _random_colour(rng, dark=False), _random_colour(rng, dark=True)
    if challenge == "light-on-dark":
        return (255, 255, rng.randint(180, 255)), None, None
    if challenge == "outlined":
        return (light, (0, 0, 0), None) if rng.random() < 0.5 else ((255, 255, 255), dark, None)
    if challenge == "busy-photo":
        return ((255, 255, 255) if dark_behind else (10, 10, 10)), None, None
    if rng.random() < 0.4:
        return (255, 255, 255), None, (*dark, 170)
    return ((255, 255, 255), (0, 0, 0), None) if dark_behind else ((15, 15, 25), (255, 255, 255), None)


@dataclass
class _Block:
    """A text layer and its words' boxes in layer pixels."""

    image: Image.Image
    words: list[tuple[str, Box]]

    def rotated(self, angle: float) -> "_Block":
        if not angle:
            return self
        image = self.image.rotate(angle, resample=Image.BICUBIC, expand=True)
        words = []
        for word, box in self.words:
            mask = Image.new("L", self.image.size, 0)
            ImageDraw.Draw(mask).rectangle(box, fill=255)
            words.append((word, mask.rotate(angle, resample=Image.NEAREST, expand=True).getbbox() or box))
        return _Block(image, words)


@dataclass
class _Truth:
    words: list[str] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    heights: list[int] = field(default_factory=list)
    fonts: set[str] = field(default_factory=set)

    def add(self, placed: "_Block", text_height: int, font: ImageFont.FreeTypeFont | None = None) -> None:
        for word, box in placed.words:
            for token in tokens(word):
                self.words.append(token)
                self.boxes.append(box)
        self.heights.append(text_height)
        if font is not None:
            self.used(font)

    def used(self, font: ImageFont.FreeTypeFont) -> None:
        self.fonts.add(Path(font.path).stem)


def _place(canvas: Image.Image, block: _Block, at: tuple[int, int], angle: float = 0.0) -> _Block:
    """Rotate `block` (degrees, counter-clockwise), paint it at `at`; its words' boxes in canvas pixels."""
    rotated = block.rotated(angle)
    canvas.alpha_composite(rotated.image, at)
    x, y = at
    return _Block(rotated.image, [(w, (b[0] + x, b[1] + y, b[2] + x, b[3] + y)) for w, b in rotated.words])


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
    max_width: int | None = None, stroke_width: int | None = None,
) -> _Block:
    """Text on a transparent (or filled) layer, wrapped to `max_width` if given."""
    lines = _wrap(text, font, max_width - 2 * padding) if max_width else [text]
    if stroke_width is None:
        stroke_width = max(1, font.size // 22) if stroke else 0
    line_height = int(font.size * 1.25)
    text_width = max(int(font.getlength(line)) for line in lines) + 2 * stroke_width
    layer = Image.new("RGBA", (text_width + 2 * padding, line_height * len(lines) + 2 * padding), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    if box_fill is not None:
        draw.rounded_rectangle((0, 0, layer.width - 1, layer.height - 1), radius=padding, fill=box_fill)
    words = []
    for row, line in enumerate(lines):
        origin = (padding + stroke_width, padding + row * line_height)
        draw.text(origin, line, font=font, fill=fill, stroke_width=stroke_width, stroke_fill=stroke)
        line_words = line.split(" ")
        for position, word in enumerate(line_words):
            if not word:
                continue
            prefix = " ".join(line_words[:position]) + (" " if position else "")
            at = (origin[0] + font.getlength(prefix), origin[1])
            words.append((word, tuple(int(v) for v in draw.textbbox(at, word, font=font, stroke_width=stroke_width))))
    return _Block(layer, words)


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
    image.save(buffer, "PNG", compress_level=1)  # fast: the set is rendered at every run
    return buffer.getvalue()
