"""Hidden customer traits and the observable profiles and message catalogue that follow from them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

CATEGORIES: tuple[str, ...] = ("apparel", "shoes", "beauty", "home", "electronics", "sports")
TONES: tuple[str, ...] = ("urgent", "friendly", "premium")
REGIONS: tuple[str, ...] = ("uk", "de", "fr", "es", "pl")
REGION_SHARES: tuple[float, ...] = (0.30, 0.25, 0.20, 0.15, 0.10)
# The send hour is read in the customer's time zone, which the region decides (DESIGN §3).
REGION_TIMEZONES: dict[str, str] = {
    "uk": "Europe/London",
    "de": "Europe/Berlin",
    "fr": "Europe/Paris",
    "es": "Europe/Madrid",
    "pl": "Europe/Warsaw",
}
# Typical basket value per category; purchase amounts and revenues scale from it.
PRICE_LEVEL: dict[str, float] = {
    "apparel": 45.0,
    "shoes": 80.0,
    "beauty": 30.0,
    "home": 60.0,
    "electronics": 180.0,
    "sports": 55.0,
}
LOYALTY_TIERS: tuple[str, ...] = ("none", "silver", "gold", "platinum")
OFFER_TYPES: tuple[str, ...] = ("discount", "free_shipping", "new_arrival", "loyalty_points", "content")
# The preferred hours people cluster around: breakfast, lunch, after work, late evening.
_HOUR_MODES = np.array([8.0, 12.5, 19.0, 21.5])
_HOUR_MODE_SHARES = np.array([0.25, 0.2, 0.35, 0.2])
_CONSENT_BASE: dict[str, float] = {"email": 0.9, "push": -0.1, "sms": -1.0}


@dataclass
class CustomerLatents:
    """Per-customer hidden traits, aligned with the customers frame row by row."""

    affinity: np.ndarray  # (n, len(CATEGORIES)), rows sum to 1
    price_sens: np.ndarray  # (n,) in [0, 1]
    chan_pref: np.ndarray  # (n, len(channels)), rows sum to 1
    pref_hour: np.ndarray  # (n,) local hour in [0, 24)
    engagement: np.ndarray  # (n,) standard normal
    fatigue: np.ndarray  # (n,) >= 0, logit loss per recent send
    responsiveness: np.ndarray  # (n,) > 0, scales how much a message moves the customer
    annoyance: np.ndarray  # (n,) >= 0, non-zero for the "sleeping dogs" a message hurts
    app_lover: np.ndarray  # (n,) standard normal, drives the device mix
    age: np.ndarray  # (n,) years, the true age even where birth_year is NULL or drifted


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make_customers(
    rng: np.random.Generator,
    n: int,
    channels: list[str],
    now: pd.Timestamp,
    missing_birth_year_share: float = 0.08,
    no_consent_share: float = 0.07,
    consent_shift: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, CustomerLatents]:
    """Draw hidden traits, then the profile columns that partly reveal them.

    ``consent_shift`` adds to each channel's consent logit (the consent and channel mix);
    ``no_consent_share`` of customers consent to nothing.
    """
    consent_shift = consent_shift or {}
    today = now.date()
    engagement = rng.standard_normal(n)
    price_sens = rng.beta(2.0, 2.0, n)
    age = np.clip(rng.normal(40.0, 13.0, n), 18.0, 85.0)
    gender = rng.choice(np.array(["F", "M", None], dtype=object), size=n, p=[0.52, 0.42, 0.06])
    # Affinity is peaked (a top category or two) and mildly tied to gender and age, like real catalogues.
    aff_logits = rng.normal(0.0, 1.3, (n, len(CATEGORIES)))
    is_f = gender == "F"
    aff_logits[:, CATEGORIES.index("beauty")] += np.where(is_f, 0.8, -0.6)
    aff_logits[:, CATEGORIES.index("electronics")] += np.where(is_f, -0.4, 0.4) + (40.0 - age) / 40.0
    aff_logits[:, CATEGORIES.index("home")] += (age - 40.0) / 30.0
    affinity = _softmax(aff_logits)
    app_lover = rng.standard_normal(n) + (40.0 - age) / 25.0
    ch_logits = rng.normal(0.0, 1.0, (n, len(channels)))
    for j, ch in enumerate(channels):
        if ch == "push":
            ch_logits[:, j] += 0.5 * app_lover
        elif ch == "email":
            ch_logits[:, j] += 0.3 + (age - 40.0) / 40.0
    chan_pref = _softmax(ch_logits)
    mode = rng.choice(len(_HOUR_MODES), size=n, p=_HOUR_MODE_SHARES)
    pref_hour = np.mod(_HOUR_MODES[mode] + rng.normal(0.0, 1.0, n), 24.0)
    fatigue = rng.lognormal(np.log(0.12), 0.6, n)
    responsiveness = rng.lognormal(-0.05, 0.3, n)
    # About one customer in seven is hurt by being contacted at all.
    annoyance = np.where(rng.random(n) < 0.14, rng.uniform(0.8, 2.1, n), 0.0)

    # Signups: a long tail of tenure plus a recent acquisition push (the "current" cohort for drift).
    recent = rng.random(n) < 0.06
    tenure_days = np.where(recent, rng.integers(0, 14, n), rng.integers(14, 1500, n))
    signup = pd.to_datetime(pd.Timestamp(today) - pd.to_timedelta(tenure_days, unit="D"))

    tier_score = engagement + 0.35 * np.log1p(tenure_days / 100.0) + rng.normal(0.0, 0.6, n)
    cuts = np.quantile(tier_score, [0.5, 0.78, 0.93])
    tier = np.asarray(LOYALTY_TIERS, dtype=object)[np.searchsorted(cuts, tier_score)]

    birth_year = pd.array(today.year - np.round(age).astype(int), dtype="Int64")
    birth_year[rng.random(n) < missing_birth_year_share] = pd.NA
    region = rng.choice(np.asarray(REGIONS, dtype=object), size=n, p=REGION_SHARES)

    frame = pd.DataFrame(
        {
            "customer_id": [f"c_{i:06d}" for i in range(1, n + 1)],
            "signup_date": signup.date,
            "birth_year": birth_year,
            "gender": gender,
            "region": region,
            "loyalty_tier": tier,
        }
    )
    # Consent leans towards the channels a customer prefers; some customers consent to nothing.
    silent = rng.random(n) < no_consent_share
    k = len(channels)
    for j, ch in enumerate(channels):
        logit = _CONSENT_BASE.get(ch, -0.5) + consent_shift.get(ch, 0.0) + 1.5 * np.log(k * chan_pref[:, j])
        frame[f"consent_{ch}"] = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))) & ~silent
    signup_utc = signup.tz_localize("UTC")
    since_signup = (now - signup_utc).total_seconds().to_numpy()
    updated = signup_utc + pd.to_timedelta(rng.random(n) * since_signup, unit="s")
    frame["updated_at"] = pd.DatetimeIndex(updated).floor("s")

    latents = CustomerLatents(
        affinity=affinity,
        price_sens=price_sens,
        chan_pref=chan_pref,
        pref_hour=pref_hour,
        engagement=engagement,
        fatigue=fatigue,
        responsiveness=responsiveness,
        annoyance=annoyance,
        app_lover=app_lover,
        age=age,
    )
    return frame, latents


@dataclass
class MessageSpec:
    """The hidden attributes of each message, some of which the catalogue columns omit."""

    category: np.ndarray  # (m,) index into CATEGORIES
    tone: np.ndarray  # (m,) index into TONES
    offer: np.ndarray  # (m,) index into OFFER_TYPES
    discount: np.ndarray  # (m,) percent, 0 where the offer is not a discount


def make_message_specs(
    rng: np.random.Generator, m: int, today: dt.date, sends_days: int
) -> tuple[MessageSpec, pd.DataFrame]:
    """Draw message attributes and the activity windows and campaign grouping."""
    idx = np.arange(m)
    # Every category appears (once m >= 6) so the targeted logging policy always has options.
    category = rng.permutation(len(CATEGORIES))[idx % len(CATEGORIES)]
    campaign = idx // 3
    campaign_offer = rng.integers(0, len(OFFER_TYPES), campaign.max() + 1)
    offer = campaign_offer[campaign]
    tone = rng.integers(0, len(TONES), m)
    discount = np.where(offer == OFFER_TYPES.index("discount"), rng.choice([10, 15, 20, 25, 30, 40, 50], m), 0).astype(
        float
    )

    # Activity: most span the whole send window, some started recently, about 10% have expired.
    kind = rng.choice(3, size=m, p=[0.7, 0.2, 0.1])
    kind[:3] = 0  # three evergreen messages keep every past day of the log supplied
    start_back = np.where(
        kind == 0,
        rng.integers(sends_days + 1, sends_days + 90, m),
        np.where(
            kind == 1,
            rng.integers(1, max(2, sends_days // 2), m),
            rng.integers(sends_days // 2 + 10, sends_days + 90, m),
        ),
    )
    end_ahead = np.where(kind == 2, -rng.integers(1, max(2, sends_days // 3), m), rng.integers(7, 60, m))
    base = pd.Timestamp(today)
    frame = pd.DataFrame(
        {
            "message_id": [f"m_{i:04d}" for i in idx + 1],
            "campaign_id": [f"cmp_{c + 1:02d}" for c in campaign],
            "active_from": (base - pd.to_timedelta(start_back, unit="D")).date,
            "active_to": (base + pd.to_timedelta(end_ahead, unit="D")).date,
        }
    )
    return MessageSpec(category=category, tone=tone, offer=offer, discount=discount), frame
