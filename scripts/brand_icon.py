#!/usr/bin/env python3
"""Draw the integration's brand icon: custom_components/wxstation/brand/icon.png and icon@2x.png,
and the same picture as the add-on's icon.png and logo.png (addon/).

    .venv/bin/python scripts/brand_icon.py

Home Assistant 2026.3+ serves a custom integration's own brand images from its
``brand/`` folder: ``icon.png`` at 256x256 and ``icon@2x.png`` at 512x512.
The picture: a sun behind a cloud (the weather), under the arcs of a station
sending its hour of samples. It is drawn once at a large size and scaled down,
which gives smooth edges, then saved at both sizes. The add-on store shows
``icon.png`` (128x128) in its lists and ``logo.png`` (250x100: the picture
and the name) on the add-on's page. The PNGs are committed; run this again
only to change the picture.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
BRAND_DIR = ROOT / "custom_components" / "wxstation" / "brand"
ADDON_DIR = ROOT / "addon"
#: Home Assistant's brand image sizes: the icon and its high-density version.
SIZES = {"icon.png": 256, "icon@2x.png": 512}
#: The add-on store's sizes: the square icon, and the logo beside the name.
ADDON_ICON_SIZE = 128
ADDON_LOGO_SIZE = (250, 100)
LOGO_TEXT = "wxstation"
LOGO_TEXT_COLOUR = (16, 62, 128)
#: The drawing's own size; four times the largest output, for antialiasing.
CANVAS = 2048

TILE_TOP = (38, 120, 196)
TILE_BOTTOM = (16, 62, 128)
SUN = (255, 193, 37)
CLOUD = (255, 255, 255)
CLOUD_SHADE = (214, 228, 242)
SIGNAL = (255, 255, 255)


def _tile(size: int) -> Image.Image:
    """A rounded square with a vertical blue gradient; outside it is transparent."""
    gradient = Image.new("RGBA", (size, size))
    pixels = gradient.load()
    assert pixels is not None
    for y in range(size):
        t = y / (size - 1)
        row = tuple(round(a + (b - a) * t) for a, b in zip(TILE_TOP, TILE_BOTTOM, strict=True))
        for x in range(size):
            pixels[x, y] = (*row, 255)
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, size - 1, size - 1), radius=size * 0.22, fill=255)
    tile = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    tile.paste(gradient, (0, 0), mask)
    return tile


def _sun(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float) -> None:
    for i in range(8):
        angle = math.radians(i * 45 + 22.5)
        inner, outer = r * 1.3, r * 1.75
        draw.line(
            (
                cx + inner * math.cos(angle),
                cy + inner * math.sin(angle),
                cx + outer * math.cos(angle),
                cy + outer * math.sin(angle),
            ),
            fill=SUN,
            width=round(r * 0.26),
        )
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=SUN)


def _cloud(draw: ImageDraw.ImageDraw, left: float, base: float, width: float) -> None:
    """A cloud of three puffs on a flat base, with a light shade along its bottom."""
    h = width * 0.17
    puffs = [(0.24, 0.16), (0.50, 0.27), (0.77, 0.18)]  # (x along the width, radius)
    for shade, lift in ((CLOUD_SHADE, 0.0), (CLOUD, width * 0.025)):
        draw.rounded_rectangle(
            (left, base - h - lift, left + width, base - lift), radius=h / 2, fill=shade
        )
        for fx, fr in puffs:
            cx, r = left + width * fx, width * fr
            cy = base - h - lift
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=shade)


def _signal(draw: ImageDraw.ImageDraw, cx: float, cy: float, step: float) -> None:
    """Three arcs opening up and to the right, as sent from the point (cx, cy)."""
    width = round(step * 0.34)
    r = step * 0.28
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=SIGNAL)
    for i in range(1, 4):
        radius = step * i
        draw.arc(
            (cx - radius, cy - radius, cx + radius, cy + radius),
            start=-90,
            end=0,
            fill=SIGNAL,
            width=width,
        )


def draw_icon(size: int = CANVAS) -> Image.Image:
    image = _tile(size)
    draw = ImageDraw.Draw(image)
    s = size / 100  # work in percent of the tile
    _sun(draw, 35 * s, 45 * s, 13 * s)
    _cloud(draw, 17 * s, 80 * s, 66 * s)
    _signal(draw, 64 * s, 34 * s, 8 * s)
    return image


def draw_logo(icon: Image.Image) -> Image.Image:
    """The icon at the logo's height, with the name beside it, on transparency."""
    width, height = ADDON_LOGO_SIZE
    logo = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    logo.paste(icon.resize((height, height), Image.Resampling.LANCZOS), (0, 0))
    font = ImageFont.load_default(size=height * 0.28)
    ImageDraw.Draw(logo).text(
        (height + height * 0.1, height / 2),
        LOGO_TEXT,
        fill=LOGO_TEXT_COLOUR,
        font=font,
        anchor="lm",
    )
    return logo


def _save(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
    print(f"{path.relative_to(ROOT)}: {image.size[0]}x{image.size[1]}")


def main() -> int:
    icon = draw_icon()
    for name, size in SIZES.items():
        _save(icon.resize((size, size), Image.Resampling.LANCZOS), BRAND_DIR / name)
    addon_icon = icon.resize((ADDON_ICON_SIZE, ADDON_ICON_SIZE), Image.Resampling.LANCZOS)
    _save(addon_icon, ADDON_DIR / "icon.png")
    _save(draw_logo(icon), ADDON_DIR / "logo.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
