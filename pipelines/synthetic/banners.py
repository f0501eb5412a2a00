"""64×64 banner creatives: colour says the category, pattern the tone, a badge the offer."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from pipelines.synthetic.latents import CATEGORIES, OFFER_TYPES, TONES

BANNER_SIZE = 64
CATEGORY_COLOURS: dict[str, tuple[int, int, int]] = {
    "apparel": (200, 40, 40),
    "shoes": (40, 80, 200),
    "beauty": (230, 120, 190),
    "home": (60, 160, 80),
    "electronics": (70, 70, 70),
    "sports": (240, 160, 30),
}


def draw_banner(rng: np.random.Generator, category: int, tone: int, offer: int, discount: float) -> bytes:
    """Draw one banner and return its PNG bytes."""
    s = BANNER_SIZE
    # Small colour jitter so a model must learn the hue family, not one exact pixel value.
    base = np.clip(np.array(CATEGORY_COLOURS[CATEGORIES[category]]) + rng.integers(-15, 16, 3), 0, 255)
    img = Image.new("RGB", (s, s), tuple(int(v) for v in base))
    d = ImageDraw.Draw(img)
    light = (255, 255, 255)
    tone_name = TONES[tone]
    if tone_name == "urgent":  # diagonal stripes
        for x in range(-s, s, 12):
            d.line([(x, s), (x + s, 0)], fill=light, width=2)
    elif tone_name == "friendly":  # polka dots
        for y in range(6, s, 14):
            for x in range(6 + (y // 14 % 2) * 7, s, 14):
                d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=light)
    else:  # premium: gold frame and a thin rule
        d.rectangle([2, 2, s - 3, s - 3], outline=(212, 175, 55), width=4)
        d.line([(10, s // 2), (s - 10, s // 2)], fill=(212, 175, 55), width=1)
    # Offer badge in the lower-right corner; a discount badge grows with the discount.
    cx, cy = s - 16, s - 16
    offer_name = OFFER_TYPES[offer]
    dark = (20, 20, 20)
    if offer_name == "discount":
        r = 5 + int(discount / 50.0 * 9)
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 255, 0), outline=dark)
    elif offer_name == "free_shipping":
        d.rectangle([cx - 10, cy - 5, cx + 6, cy + 5], fill=light, outline=dark)
        d.ellipse([cx - 8, cy + 4, cx - 4, cy + 8], fill=dark)
        d.ellipse([cx + 1, cy + 4, cx + 5, cy + 8], fill=dark)
    elif offer_name == "new_arrival":
        d.polygon(
            [
                (cx, cy - 10),
                (cx + 3, cy - 3),
                (cx + 10, cy - 3),
                (cx + 4, cy + 2),
                (cx + 6, cy + 9),
                (cx, cy + 5),
                (cx - 6, cy + 9),
                (cx - 4, cy + 2),
                (cx - 10, cy - 3),
                (cx - 3, cy - 3),
            ],
            fill=light,
            outline=dark,
        )
    elif offer_name == "loyalty_points":
        d.polygon([(cx, cy - 9), (cx + 9, cy), (cx, cy + 9), (cx - 9, cy)], fill=(0, 200, 220), outline=dark)
    else:  # content: lines of "text"
        for k in range(3):
            d.line([(cx - 10, cy - 6 + 6 * k), (cx + 10, cy - 6 + 6 * k)], fill=dark, width=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
