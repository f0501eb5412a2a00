"""The true response function of the synthetic world: the oracle benchmarks score models against."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.synthetic.latents import CATEGORIES, OFFER_TYPES, TONES, CustomerLatents, MessageSpec

# Logit of buying anyway, for an average customer with no message: about 3%.
BASE_LOGIT = -3.6
# Baseline lift of a well-matched message before the customer-specific terms.
MESSAGE_LIFT = 0.6
# Weight of the customer × message × context fit terms relative to that lift.
INTERACTION_SCALE = 0.45
# Channel-specific logit shifts: sms gets attention but doubles the harm for those who dislike contact.
CHANNEL_SHIFT: dict[str, float] = {"email": 0.0, "push": 0.1, "sms": 0.2}
SMS_ANNOYANCE_FACTOR = 2.0
# Logit taken off the message effect for the biased group, per unit of the bias knob.
BIAS_PENALTY = 0.8

_ORACLE_FILES = ("customer_truth", "message_truth", "send_truth", "params")
# The weights of the default world; a world's ResponseWeights (pipelines/config.py) override them.
DEFAULT_WEIGHTS: dict[str, float] = {
    "category_match_weight": 1.0,
    "offer_weight": 1.0,
    "channel_weight": 1.0,
    "timing_weight": 1.0,
    "tone_weight": 1.0,
    "fatigue_weight": 1.0,
    "annoyance_weight": 1.0,
    "organic_engagement": 0.55,
    "message_lift": MESSAGE_LIFT,
    "interaction_scale": INTERACTION_SCALE,
}


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, elementwise."""
    return 1.0 / (1.0 + np.exp(-x))


def hour_term(hours: np.ndarray, pref_hour: np.ndarray) -> np.ndarray:
    """Logit bonus for sending close to the customer's preferred local hour, penalty far from it."""
    d = np.abs(np.mod(hours - pref_hour + 12.0, 24.0) - 12.0)
    return 0.8 * np.exp(-((d / 2.0) ** 2)) - 0.4


@dataclass
class TrueResponse:
    """P(converted | customer, action, context) as the world really draws it; vectorised over rows."""

    customer_truth: pd.DataFrame
    message_truth: pd.DataFrame
    channels: list[str]
    bias: float = 0.0
    send_truth: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Strength of each trait's term (DEFAULT_WEIGHTS' keys); missing keys take the default.
    weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise KeyError(f"unknown response weights {sorted(unknown)}; known: {sorted(DEFAULT_WEIGHTS)}")
        self.weights = {**DEFAULT_WEIGHTS, **{k: float(v) for k, v in self.weights.items()}}
        ct = self.customer_truth
        self._cust_index = pd.Index(ct["customer_id"])
        self._msg_index = pd.Index(self.message_truth["message_id"])
        self._affinity = ct[[f"aff_{c}" for c in CATEGORIES]].to_numpy(float)
        self._chan_pref = ct[[f"pref_{c}" for c in self.channels]].to_numpy(float)
        mt = self.message_truth
        self._m_cat = mt["category"].map({c: i for i, c in enumerate(CATEGORIES)}).to_numpy(int)
        self._m_tone = mt["tone"].map({t: i for i, t in enumerate(TONES)}).to_numpy(int)
        self._m_offer = mt["offer_type"].map({o: i for i, o in enumerate(OFFER_TYPES)}).to_numpy(int)
        self._m_disc = mt["discount_pct"].fillna(0.0).to_numpy(float)

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def from_latents(
        cls,
        customers: pd.DataFrame,
        latents: CustomerLatents,
        message_ids: Sequence[str],
        spec: MessageSpec,
        channels: list[str],
        bias: float,
        in_biased_group: np.ndarray,
        weights: dict[str, float] | None = None,
    ) -> TrueResponse:
        """The oracle of a freshly drawn world: hidden traits per customer and message, plus the weights."""
        ct = pd.DataFrame({"customer_id": customers["customer_id"].to_numpy()})
        for j, c in enumerate(CATEGORIES):
            ct[f"aff_{c}"] = latents.affinity[:, j]
        for j, c in enumerate(channels):
            ct[f"pref_{c}"] = latents.chan_pref[:, j]
        ct["price_sens"] = latents.price_sens
        ct["pref_hour"] = latents.pref_hour
        ct["engagement"] = latents.engagement
        ct["fatigue"] = latents.fatigue
        ct["responsiveness"] = latents.responsiveness
        ct["annoyance"] = latents.annoyance
        ct["age"] = latents.age
        # The tier is observable, but copied here so the oracle never depends on warehouse rows.
        ct["tier"] = customers["loyalty_tier"].map({"none": 0, "silver": 1, "gold": 2, "platinum": 3}).to_numpy(int)
        ct["biased_group"] = np.asarray(in_biased_group, dtype=bool)
        mt = pd.DataFrame(
            {
                "message_id": list(message_ids),
                "category": np.asarray(CATEGORIES, dtype=object)[spec.category],
                "tone": np.asarray(TONES, dtype=object)[spec.tone],
                "offer_type": np.asarray(OFFER_TYPES, dtype=object)[spec.offer],
                "discount_pct": spec.discount,
            }
        )
        return cls(
            customer_truth=ct, message_truth=mt, channels=list(channels), bias=float(bias), weights=dict(weights or {})
        )

    # ---- the response function --------------------------------------------------------------
    def _customer_rows(self, customer_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        rows = self._cust_index.get_indexer(np.asarray(customer_ids, dtype=object))
        if (rows < 0).any():
            raise KeyError(f"unknown customer ids, e.g. {np.asarray(customer_ids)[rows < 0][:3].tolist()}")
        return rows

    def holdout_logit(self, rows: np.ndarray) -> np.ndarray:
        """Logit of buying with no message: the organic rate, moved by engagement."""
        return BASE_LOGIT + self.weights["organic_engagement"] * self.customer_truth["engagement"].to_numpy()[rows]

    def p_holdout(self, customer_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """P(converted) with no message: the organic purchase rate."""
        return sigmoid(self.holdout_logit(self._customer_rows(customer_ids)))

    def p_convert(
        self,
        customer_ids: Sequence[str] | np.ndarray,
        message_ids: Sequence[str | None] | np.ndarray,
        channels: Sequence[str] | np.ndarray,
        send_hours: Sequence[int] | np.ndarray,
        recent_sends: Sequence[int] | np.ndarray,
    ) -> np.ndarray:
        """P(converted) for each row; a None/NaN message id is the hold-out (channel and hour ignored)."""
        rows = self._customer_rows(customer_ids)
        msg_ids = np.asarray(message_ids, dtype=object)
        holdout = pd.isna(msg_ids)
        logit = self.holdout_logit(rows)
        treated = ~holdout
        if treated.any():
            mrows = self._msg_index.get_indexer(msg_ids[treated])
            if (mrows < 0).any():
                raise KeyError(f"unknown message ids, e.g. {msg_ids[treated][mrows < 0][:3].tolist()}")
            logit[treated] += self._effect(
                rows[treated],
                mrows,
                np.asarray(channels, dtype=object)[treated],
                np.asarray(send_hours, dtype=float)[treated],
                np.asarray(recent_sends, dtype=float)[treated],
            )
        return sigmoid(logit)

    def uplift(
        self,
        customer_ids: Sequence[str] | np.ndarray,
        message_ids: Sequence[str | None] | np.ndarray,
        channels: Sequence[str] | np.ndarray,
        send_hours: Sequence[int] | np.ndarray,
        recent_sends: Sequence[int] | np.ndarray,
    ) -> np.ndarray:
        """P(converted | action) − P(converted | hold-out)."""
        p = self.p_convert(customer_ids, message_ids, channels, send_hours, recent_sends)
        return p - self.p_holdout(customer_ids)

    def _effect(
        self, rows: np.ndarray, mrows: np.ndarray, channels: np.ndarray, hours: np.ndarray, recent: np.ndarray
    ) -> np.ndarray:
        """Logit shift of a message; interactions of hidden traits with message, channel and context."""
        ct = self.customer_truth
        ps = ct["price_sens"].to_numpy()[rows]
        tier = ct["tier"].to_numpy()[rows].astype(float)
        eng = ct["engagement"].to_numpy()[rows]
        age = ct["age"].to_numpy()[rows]
        cat, tone, offer, disc = self._m_cat[mrows], self._m_tone[mrows], self._m_offer[mrows], self._m_disc[mrows]
        k = len(CATEGORIES)

        # Category match: relative affinity on a log scale, capped so no one term dominates.
        match = np.clip(0.6 * np.log(k * self._affinity[rows, cat]), -1.6, 1.0)

        # Offer appeal depends on price sensitivity (and tier for points): a discount helps the
        # price-sensitive in proportion to its size and does little for the rest.
        offer_term = np.select(
            [offer == 0, offer == 1, offer == 2, offer == 3],
            [
                2.0 * (ps - 0.35) * (disc / 30.0),
                0.9 * (ps - 0.3),
                0.9 * (0.45 - ps) + 0.1 * eng,
                0.3 * tier - 0.35,
            ],
            default=-0.25,
        )

        # Channel: preference relative to uniform, plus a per-channel shift.
        ch_col = pd.Index(self.channels).get_indexer(channels)
        if (ch_col < 0).any():
            raise KeyError(f"unknown channels, e.g. {channels[ch_col < 0][:3].tolist()}")
        pref = self._chan_pref[rows, ch_col]
        channel_term = np.clip(0.9 * np.log(len(self.channels) * pref), -1.5, 0.8)
        channel_term += np.array([CHANNEL_SHIFT.get(c, 0.0) for c in self.channels])[ch_col]

        # Tone: urgency works on the price-sensitive and the young and puts off loyal members;
        # a premium tone is the reverse.
        tone_term = np.select(
            [tone == 0, tone == 1],
            [0.9 * (ps - 0.5) + np.clip((35.0 - age) / 40.0, -0.3, 0.4) - 0.25 * (tier >= 2), np.full_like(ps, 0.1)],
            default=0.25 * tier - 0.8 * (ps - 0.5) - 0.2,
        )

        timing = hour_term(hours, ct["pref_hour"].to_numpy()[rows])
        w = self.weights
        fit = (
            w["category_match_weight"] * match
            + w["offer_weight"] * offer_term
            + w["channel_weight"] * channel_term
            + w["timing_weight"] * timing
            + w["tone_weight"] * tone_term
        )
        gain = ct["responsiveness"].to_numpy()[rows] * (w["message_lift"] + w["interaction_scale"] * fit)
        # Fatigue grows faster than linearly with the sends of the last 7 days.
        fatigue = w["fatigue_weight"] * ct["fatigue"].to_numpy()[rows] * recent * (1.0 + 0.15 * recent)
        is_sms = np.array([c == "sms" for c in self.channels])[ch_col]
        annoyance = (
            w["annoyance_weight"] * ct["annoyance"].to_numpy()[rows] * np.where(is_sms, SMS_ANNOYANCE_FACTOR, 1.0)
        )
        bias = self.bias * BIAS_PENALTY * ct["biased_group"].to_numpy()[rows]
        return gain - fatigue - annoyance - bias

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the oracle's state as Parquet files in ``path`` (kept apart from the warehouse)."""
        path.mkdir(parents=True, exist_ok=True)
        self.customer_truth.to_parquet(path / "customer_truth.parquet", index=False)
        self.message_truth.to_parquet(path / "message_truth.parquet", index=False)
        self.send_truth.to_parquet(path / "send_truth.parquet", index=False)
        params = pd.DataFrame(
            {
                "bias": [self.bias],
                "channels": [",".join(self.channels)],
                **{f"w_{k}": [v] for k, v in self.weights.items()},
            }
        )
        params.to_parquet(path / "params.parquet", index=False)


def load_oracle(path: Path | str) -> TrueResponse:
    """Read back an oracle written by ``write_world`` (the ``world`` folder beside the assets)."""
    path = Path(path)
    missing = [f for f in _ORACLE_FILES if not (path / f"{f}.parquet").is_file()]
    if missing:
        raise FileNotFoundError(f"no synthetic-world oracle in {path} (missing {', '.join(missing)}.parquet)")
    params = pd.read_parquet(path / "params.parquet").iloc[0]
    return TrueResponse(
        customer_truth=pd.read_parquet(path / "customer_truth.parquet"),
        message_truth=pd.read_parquet(path / "message_truth.parquet"),
        channels=str(params["channels"]).split(","),
        bias=float(params["bias"]),
        send_truth=pd.read_parquet(path / "send_truth.parquet"),
        weights={k[2:]: float(v) for k, v in params.items() if str(k).startswith("w_")},
    )
