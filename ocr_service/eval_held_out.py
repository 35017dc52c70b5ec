"""The held-out OCR split: creatives made with fonts, layouts, backgrounds and words that the
tuning split (`eval_set.py`) never uses, so a score on it says what users get from defaults
that were chosen on the tuning split. Nothing in the engines may be chosen by looking at it.

Every image is seeded (the same bytes at every run). Index `i` is kind `HELD_OUT_KINDS[i % 8]`
in layout `HELD_OUT_LAYOUTS[(i // 8) % 4]`, so 64 images give 8 of each kind, 2 per layout:

- kinds: `ad` (headline, sub-line, button, small print), `small-text` (9-15 px), `low-contrast`
  (text 45-80 grey levels from what lies behind it, no outline or band), `rotated` (8-20
  degrees), `stylised-font` (script, rounded, oblique display faces), `busy-photo` (bare text on
  the busiest pictures), `shadowed` (light text over a blurred drop shadow, no outline),
  `light-on-dark` (light coloured text on a darkened picture);
- layouts: `centred`, `right-aligned`, `bottom-anchored` (blocks stacked up from the bottom),
  `split-panel` (a solid panel over half the creative holds the text);
- fonts: Noto, GNU FreeFont, URW base35 and Comfortaa (Debian's fonts-noto-core,
  fonts-freefont-ttf, fonts-urw-base35, fonts-comfortaa; the tuning split uses Liberation and DejaVu);
- backgrounds: photos from Debian's opencv-doc (without words of their own), skimage pictures the tuning split leaves alone
  (moon, clock, colorwheel), and drawn gradients, stripes and dots;
- sizes: 1080x1920, 1600x900, 1200x1500, 1000x1000 (the tuning split: 1080x1080, 1200x628, 1080x1350).

Each creative carries a logo (its box is the exclusion region, its words are not truth).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from creativelens.ocr_service.eval_set import (
    DEFAULT_SEED, EvalImage, _Block, _place, _png, _text_block, _Truth, tokens,
)

HELD_OUT_SEED_OFFSET = 900  # its own random streams, apart from the tuning split's
HELD_OUT_KINDS = ("ad", "small-text", "low-contrast", "rotated", "stylised-font", "busy-photo", "shadowed",
                  "light-on-dark")
HELD_OUT_LAYOUTS = ("centred", "right-aligned", "bottom-anchored", "split-panel")
HELD_OUT_SIZES = ((1080, 1920), (1600, 900), (1200, 1500), (1000, 1000))

HELD_OUT_FONT_DIRS = ("/usr/share/fonts/truetype/noto", "/usr/share/fonts/truetype/freefont",
                      "/usr/share/fonts/opentype/urw-base35", "/usr/share/fonts/truetype/comfortaa")
HELD_OUT_HEADLINE_FONTS = ("NotoSans-Bold", "NotoSerifDisplay-Bold", "FreeSansBold", "FreeSerifBold",
                           "NimbusSans-Bold", "URWGothic-Demi", "C059-Bold", "P052-Bold", "NimbusSansNarrow-Bold")
HELD_OUT_BODY_FONTS = ("NotoSans-Regular", "NotoSerif-Regular", "FreeSans", "FreeSerif", "NimbusRoman-Regular",
                       "URWBookman-Light", "NotoSans-Italic", "NimbusSansNarrow-Regular", "NimbusSans-Regular")
HELD_OUT_STYLISED_FONTS = ("Z003-MediumItalic", "Comfortaa-Bold", "Comfortaa-Regular", "URWBookman-DemiItalic",
                           "URWGothic-BookOblique", "NotoSerifDisplay-BoldItalic", "FreeSerifBoldItalic",
                           "P052-BoldItalic", "C059-BdIta")
HELD_OUT_FONTS = HELD_OUT_HEADLINE_FONTS + HELD_OUT_BODY_FONTS + HELD_OUT_STYLISED_FONTS

OPENCV_DATA = "/usr/share/doc/opencv-doc/examples/data"
PHOTO_FILES = ("baboon.jpg", "fruits.jpg", "building.jpg", "butterfly.jpg", "HappyFish.jpg", "starry_night.jpg",
               "home.jpg", "orange.jpg", "apple.jpg", "aero1.jpg", "smarties.png", "leuvenA.jpg", "graf1.png")
# (messi5.jpg and board.jpg carry words of their own that no truth lists, so they are left out.)
SKIMAGE_PICTURES = ("moon", "clock", "colorwheel")
PATTERNS = ("gradient", "stripes", "dots")
HELD_OUT_BACKGROUNDS = tuple(f"opencv-doc/{name}" for name in PHOTO_FILES) + tuple(
    f"skimage/{name}" for name in SKIMAGE_PICTURES) + tuple(f"pattern/{name}" for name in PATTERNS)
BUSY_BACKGROUNDS = tuple(f"opencv-doc/{name}" for name in ("baboon.jpg", "fruits.jpg", "smarties.png", "graf1.png",
                                                          "starry_night.jpg", "leuvenA.jpg"))
# Low contrast is a flat-ish background and text a little lighter or darker than it, as in real
# creatives (grey on beige); on a busy picture it would be unreadable for a person too.
LOW_CONTRAST_BACKGROUNDS = ("pattern/gradient", "skimage/moon", "opencv-doc/aero1.jpg", "opencv-doc/building.jpg",
                            "opencv-doc/home.jpg")

HEADLINES = ("Winter Warmers", "Midweek Flash Specials", "Meet the New Range", "Ride Further", "Spring Into Style",
             "Cook Like a Chef", "Your City Awaits", "Sound Without Limits", "Grand Opening",
             "Pure Mountain Water", "Smarter Home Living", "Final Days")
SUBLINES = ("Two for one on every pizza this Friday", "Members enjoy early access from Monday",
            "Crafted by hand in small batches", "Plans from 9.99 a month", "Fast charging and all day battery",
            "Visit our flagship store downtown", "Rated five stars by our reviewers", "Tickets selling out quickly")
CALLS_TO_ACTION = ("Buy it here", "See the details", "Claim a voucher", "Reserve yours", "Start a trial", "Download the app")
SMALL_PRINT = ("Subject to availability", "Quantities are capped", "At nearby venues",
               "See website for full details", "Valid until 31 March")
BRANDS = ("Lumora", "Peakside", "Kestrel Audio", "Fernhill Bakery", "Tidewell", "Quanta Mobile")


def render_held_out_ad(index: int, seed: int = DEFAULT_SEED) -> EvalImage:
    kind = HELD_OUT_KINDS[index % len(HELD_OUT_KINDS)]
    layout = HELD_OUT_LAYOUTS[(index // len(HELD_OUT_KINDS)) % len(HELD_OUT_LAYOUTS)]
    rng = random.Random((seed + HELD_OUT_SEED_OFFSET) * 1000 + index)
    width, height = rng.choice(HELD_OUT_SIZES)
    background = rng.choice({"busy-photo": BUSY_BACKGROUNDS, "low-contrast": LOW_CONTRAST_BACKGROUNDS}.get(
        kind, HELD_OUT_BACKGROUNDS))
    canvas = _background(background, width, height, rng)
    if kind == "light-on-dark":
        factor = rng.uniform(0.12, 0.3)
        canvas = Image.eval(canvas, lambda value: int(value * factor))
    canvas = canvas.convert("RGBA")
    scale = min(width, height) / 1080
    margin = int(rng.randint(40, 80) * scale)
    truth = _Truth()

    left, right = margin, width - margin  # where the text blocks go
    logo_side = rng.choice(("left", "right"))
    if layout == "split-panel":
        panel_width = int(width * rng.uniform(0.45, 0.55))
        panel_left = 0 if rng.random() < 0.5 else width - panel_width
        panel_colour = _random_colour(rng, dark=rng.random() < 0.5)
        if kind == "light-on-dark":
            panel_colour = tuple(value // 4 for value in panel_colour)
        ImageDraw.Draw(canvas).rectangle((panel_left, 0, panel_left + panel_width, height),
                                         fill=(*panel_colour, rng.randint(215, 255)))
        left, right = panel_left + margin, panel_left + panel_width - margin
        logo_side = "right" if panel_left == 0 else "left"  # the logo sits on the photo

    brand = rng.choice(BRANDS)
    logo_font = _font(rng.choice(HELD_OUT_HEADLINE_FONTS), int(rng.randint(32, 54) * scale))
    truth.used(logo_font)
    boxed_logo = rng.random() < 0.6
    logo = _text_block(brand, logo_font, fill=(255, 255, 255) if boxed_logo else (250, 250, 250),
                       box_fill=_random_colour(rng, dark=True) if boxed_logo else None,
                       stroke=None if boxed_logo else (0, 0, 0), padding=int(16 * scale))
    if layout == "centred":
        logo_at = ((width - logo.image.width) // 2, margin)
    else:
        logo_at = (margin if logo_side == "left" else width - margin - logo.image.width, margin)
    canvas.alpha_composite(logo.image, logo_at)
    logo_box = (logo_at[0], logo_at[1], logo_at[0] + logo.image.width, logo_at[1] + logo.image.height)

    specs = _block_specs(kind, rng, scale)
    gap = int(rng.randint(24, 60) * scale)
    top = logo_box[3] + int(rng.randint(30, 70) * scale)
    if layout == "split-panel":
        top = margin  # the logo sits on the photo, beside the panel
    # Measure every block first (shape only), so the layout can place them and then colour each
    # for what lies under it.
    measured = []
    for spec in specs:
        shape = _render_block(spec, fill=(0, 0, 0), stroke=None, box_fill=None, max_width=right - left)
        measured.append((spec, shape))
    if layout == "bottom-anchored":
        while measured and sum(s.image.height for _, s in measured) + gap * (len(measured) - 1) > height - margin - top:
            measured.pop()
        y = height - margin - (sum(s.image.height for _, s in measured) + gap * (len(measured) - 1))
    else:
        y = top
    for spec, shape in measured:
        w, h = shape.image.size
        if y + h > height - margin or w > width:
            break  # no room left: the creative keeps the blocks placed so far
        if layout == "centred" or (layout == "split-panel" and spec["centre_in_panel"]):
            x = left + max(0, (right - left - w) // 2)
        elif layout == "right-aligned":
            x = max(0, right - w)
        else:
            x = left
        x = min(max(0, x), width - w)
        fill, stroke, box_fill = _colours(spec, canvas, (x, y, x + w, y + h), rng)
        block = _render_block(spec, fill=fill, stroke=stroke, box_fill=box_fill, max_width=right - left)
        truth.add(_place(canvas, block, (x, y)), spec["font"].size, spec["font"])
        y += h + gap

    return EvalImage(
        name=f"held-out/{kind}/ad-{index:02d}-{layout}-{width}x{height}", kind=kind,
        image=_png(canvas.convert("RGB")), truth=truth.words,
        exclusion_boxes=[logo_box], excluded=tokens(brand),
        truth_boxes=truth.boxes, text_heights=truth.heights,
        split="held-out", fonts=sorted(truth.fonts), layout=layout, background=background,
    )


def _block_specs(kind: str, rng: random.Random, scale: float) -> list[dict]:
    """What each text block says and how it is drawn, before its colours are chosen."""
    def spec(text, fonts, size, role, scaled=True):
        if rng.random() < 0.25 and role == "headline":
            text = text.upper()
        angle = rng.choice((-1, 1)) * rng.uniform(8, 20) if kind == "rotated" else rng.uniform(-2, 2)
        return {"text": text, "font": _font(rng.choice(fonts), max(9, int(size * (scale if scaled else 1)))),
                "role": role, "kind": kind, "angle": angle, "centre_in_panel": rng.random() < 0.5,
                "band": role == "small-print" or (role == "body" and kind in ("ad", "rotated") and rng.random() < 0.3)}

    headline_fonts = HELD_OUT_STYLISED_FONTS if kind == "stylised-font" else HELD_OUT_HEADLINE_FONTS
    body_fonts = HELD_OUT_STYLISED_FONTS if kind == "stylised-font" else HELD_OUT_BODY_FONTS
    if kind == "ad":
        return [spec(rng.choice(HEADLINES), headline_fonts, rng.randint(70, 120), "headline"),
                spec(rng.choice(SUBLINES), body_fonts, rng.randint(32, 50), "body"),
                spec(rng.choice(CALLS_TO_ACTION), headline_fonts, rng.randint(34, 46), "button"),
                spec(rng.choice(SMALL_PRINT), body_fonts, rng.randint(20, 28), "small-print")]
    if kind == "small-text":
        return [spec(rng.choice(SUBLINES + SMALL_PRINT), body_fonts, rng.randint(9, 15), "body", scaled=False)
                for _ in range(rng.choice((2, 3)))]
    blocks = [spec(rng.choice(HEADLINES), headline_fonts, rng.randint(60, 110), "headline"),
              spec(rng.choice(SUBLINES), body_fonts, rng.randint(30, 48), "body")]
    if rng.random() < 0.5:
        blocks.append(spec(rng.choice(CALLS_TO_ACTION + SMALL_PRINT), body_fonts, rng.randint(28, 40), "body"))
    return blocks


def _render_block(spec: dict, fill, stroke, box_fill, max_width: int) -> _Block:
    font, padding = spec["font"], max(4, spec["font"].size // 5)
    block = _text_block(spec["text"], font, fill=fill, stroke=stroke, box_fill=box_fill, padding=padding,
                        max_width=max_width)
    if spec["kind"] == "shadowed":
        block = _with_drop_shadow(spec["text"], font, block, padding, max_width)
    return block.rotated(spec["angle"])


def _with_drop_shadow(text, font, block: _Block, padding: int, max_width: int) -> _Block:
    offset, blur = max(2, font.size // 14), max(1, font.size // 25)
    shadow = _text_block(text, font, fill=(0, 0, 0, 210), padding=padding, max_width=max_width).image
    layer = Image.new("RGBA", (block.image.width + offset + 2 * blur, block.image.height + offset + 2 * blur),
                      (0, 0, 0, 0))
    layer.alpha_composite(shadow, (offset, offset))
    layer = layer.filter(ImageFilter.GaussianBlur(blur))
    layer.alpha_composite(block.image, (0, 0))
    return _Block(layer, block.words)


def _colours(spec: dict, canvas: Image.Image, area: tuple[int, int, int, int], rng: random.Random):
    """(fill, stroke, box fill) for one block, from the kind and what lies under `area`."""
    behind = np.asarray(canvas.convert("RGB").crop(area)).reshape(-1, 3)
    mean = behind.mean(axis=0) if behind.size else np.array([128.0, 128.0, 128.0])
    dark_behind = mean.mean() < 128
    kind, role = spec["kind"], spec["role"]
    if role == "button":
        return (255, 255, 255), None, _random_colour(rng, dark=True)
    if spec["band"]:
        return (255, 255, 255), None, (0, 0, 0, rng.randint(150, 200))
    if kind == "low-contrast":
        delta = rng.randint(45, 80) * (1 if mean.mean() < 160 else -1)
        return tuple(int(v) for v in np.clip(mean + delta, 0, 255)), None, None
    if kind == "light-on-dark":
        return _random_colour(rng, dark=False), None, None
    if kind in ("busy-photo", "shadowed", "small-text"):
        light = (255, 255, 255) if kind != "shadowed" else _random_colour(rng, dark=False)
        return (light if dark_behind or kind == "shadowed" else (10, 10, 10)), None, None
    if dark_behind:
        return (255, 255, 255), (0, 0, 0) if rng.random() < 0.5 else None, None
    return (20, 20, 30), (255, 255, 255) if rng.random() < 0.5 else None, None


def _background(name: str, width: int, height: int, rng: random.Random) -> Image.Image:
    source, _, item = name.partition("/")
    if source == "pattern":
        picture = _pattern(item, width, height, rng)
        return picture
    if source == "skimage":
        import skimage.data

        pixels = getattr(skimage.data, item)()
        picture = Image.fromarray(pixels).convert("RGB")
    else:
        path = Path(OPENCV_DATA) / item
        if not path.exists():
            raise FileNotFoundError(f"{path} not found (install Debian's opencv-doc)")
        picture = Image.open(path).convert("RGB")
    target = width / height
    crop_w = min(picture.width, int(picture.height * target))
    crop_h = min(picture.height, int(crop_w / target))
    x = rng.randint(0, picture.width - crop_w)
    y = rng.randint(0, picture.height - crop_h)
    return picture.crop((x, y, x + crop_w, y + crop_h)).resize((width, height), Image.BICUBIC)


def _pattern(item: str, width: int, height: int, rng: random.Random) -> Image.Image:
    first, second = np.array(_random_colour(rng, dark=True), float), np.array(_random_colour(rng, dark=False), float)
    if rng.random() < 0.5:
        first, second = second, first
    if item == "gradient":
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:height, 0:width]
        t = xx * np.cos(angle) + yy * np.sin(angle)
        t = (t - t.min()) / max(1e-9, np.ptp(t))
        pixels = first + (second - first) * t[..., None]
        return Image.fromarray(pixels.astype(np.uint8), "RGB")
    picture = Image.new("RGB", (width, height), tuple(int(v) for v in first))
    draw = ImageDraw.Draw(picture)
    step = rng.randint(30, 90)
    colour = tuple(int(v) for v in second)
    if item == "stripes":
        for offset in range(-height, width, step):
            draw.polygon([(offset, 0), (offset + step // 2, 0), (offset + step // 2 + height, height),
                          (offset + height, height)], fill=colour)
    else:  # dots
        radius = step // 4
        for row, cy in enumerate(range(0, height + step, step)):
            for cx in range((row % 2) * step // 2, width + step, step):
                draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    return picture


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    for folder in HELD_OUT_FONT_DIRS:
        for suffix in (".ttf", ".otf"):
            path = Path(folder) / f"{name}{suffix}"
            if path.exists():
                return ImageFont.truetype(str(path), size)
    raise FileNotFoundError(f"font {name} not found in {HELD_OUT_FONT_DIRS} "
                            "(install fonts-noto-core, fonts-freefont-ttf, fonts-urw-base35, fonts-comfortaa)")


def _random_colour(rng: random.Random, dark: bool) -> tuple[int, int, int]:
    low, high = (15, 110) if dark else (160, 250)
    return tuple(rng.randint(low, high) for _ in range(3))
