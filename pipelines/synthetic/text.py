"""Plain-English templates for message copy and customer reviews."""

from __future__ import annotations

import numpy as np

from pipelines.synthetic.latents import CATEGORIES, OFFER_TYPES, TONES

CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "apparel": ("clothing", "fashion", "dresses and shirts"),
    "shoes": ("shoes", "sneakers", "boots"),
    "beauty": ("beauty", "skincare", "make-up"),
    "home": ("homeware", "home decor", "kitchenware"),
    "electronics": ("electronics", "gadgets", "headphones"),
    "sports": ("sportswear", "running gear", "fitness kit"),
}

_TITLES: dict[str, tuple[str, ...]] = {
    "urgent": ("Last chance: {offer} on {cat}!", "Ends tonight: {offer} on {cat}", "Hurry! {offer} on {cat} ends soon"),
    "friendly": ("We picked some {cat} for you", "Hello again! {offer} on {cat}", "A little treat: {offer} on {cat}"),
    "premium": ("The {cat} edit: {offer}", "Curated {cat} for our members", "Discover our finest {cat}"),
}
_OPENERS: dict[str, tuple[str, ...]] = {
    "urgent": ("Only 24 hours left.", "Don't miss out, stock is running low.", "Act now before it's gone."),
    "friendly": ("We thought you might like this.", "Hope you're having a lovely week.", "Just for you, with love."),
    "premium": (
        "For our valued members.",
        "An exclusive selection, chosen with care.",
        "Timeless quality, thoughtfully curated.",
    ),
}


def _offer_phrase(offer: str, discount: float) -> tuple[str, str]:
    """Short phrase for the title and a longer one for the body."""
    if offer == "discount":
        return f"{discount:.0f}% off", f"Take {discount:.0f}% off"
    return {
        "free_shipping": ("free shipping", "Enjoy free shipping"),
        "new_arrival": ("new arrivals", "See the new arrivals"),
        "loyalty_points": ("double points", "Earn double loyalty points"),
        "content": ("our style guide", "Read our guide"),
    }[offer]


def message_copy(
    rng: np.random.Generator, category: np.ndarray, tone: np.ndarray, offer: np.ndarray, discount: np.ndarray
) -> tuple[list[str], list[str]]:
    """Title and body for each message; the category, tone and offer are readable from the words."""
    titles: list[str] = []
    bodies: list[str] = []
    picks = rng.integers(0, 3, (len(category), 4))
    for i in range(len(category)):
        cat, tn, of = CATEGORIES[category[i]], TONES[tone[i]], OFFER_TYPES[offer[i]]
        word = CATEGORY_WORDS[cat][picks[i, 0]]
        short, long = _offer_phrase(of, float(discount[i]))
        title = _TITLES[tn][picks[i, 1]].format(offer=short, cat=word)
        titles.append(title[0].upper() + title[1:])
        closer = (
            "Shop now!" if tn == "urgent" else ("Happy shopping." if tn == "friendly" else "Explore the collection.")
        )
        bodies.append(f"{_OPENERS[tn][picks[i, 2]]} {long} on {CATEGORY_WORDS[cat][picks[i, 3]]}. {closer}")
    return titles, bodies


_REVIEW_CAT: dict[int, tuple[str, ...]] = {
    5: ("Love my new {w}!", "Absolutely great {w}, exactly as described."),
    4: ("Really nice {w}.", "Good {w}, would buy again."),
    3: ("The {w} I bought are okay.", "Decent {w}, nothing special."),
    2: ("Not impressed with the {w}.", "The {w} looked cheaper than in the photos."),
    1: ("Disappointed with the {w}.", "Terrible {w}, sent them back."),
}
_REVIEW_PRICE_SENSITIVE = {
    True: ("Great deal, bought it on sale.", "Worth it with the discount."),
    False: ("Too expensive for what it is.", "Way overpriced, wait for a sale."),
}
_REVIEW_QUALITY_FIRST = ("Happy to pay for quality.", "Premium feel, price is secondary.")
_REVIEW_NEUTRAL = ("Delivery was quick.", "Arrived on time.", "")


def review_text(
    rng: np.random.Generator, category: np.ndarray, rating: np.ndarray, price_sens: np.ndarray
) -> list[str]:
    """Short review texts that mention the category and, for the price-minded, the price."""
    picks = rng.integers(0, 6, (len(category), 3))
    out: list[str] = []
    for i in range(len(category)):
        cat = CATEGORIES[category[i]]
        w = CATEGORY_WORDS[cat][picks[i, 0] % 3]
        first = _REVIEW_CAT[int(rating[i])][picks[i, 1] % 2].format(w=w)
        if price_sens[i] > 0.62:
            second = _REVIEW_PRICE_SENSITIVE[bool(rating[i] >= 4)][picks[i, 2] % 2]
        elif price_sens[i] < 0.38:
            second = _REVIEW_QUALITY_FIRST[picks[i, 2] % 2]
        else:
            second = _REVIEW_NEUTRAL[picks[i, 2] % 3]
        out.append(f"{first} {second}".strip())
    return out
