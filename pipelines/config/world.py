"""Settings of the synthetic world: sizes, named structures, what drives the response and what data reveals."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

# World sizes: "tiny" for tests, "default" for the demo and benchmarks.
WORLD_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"customers": 400, "events": 8_000, "messages": 12, "sends": 4_000, "reviews": 200},
    "small": {"customers": 4_000, "events": 80_000, "messages": 24, "sends": 40_000, "reviews": 2_000},
    "default": {"customers": 20_000, "events": 400_000, "messages": 40, "sends": 200_000, "reviews": 10_000},
}


class ResponseWeights(BaseModel):
    """Which hidden traits drive the true response and how strongly (pipelines/synthetic/response.py).

    Each ``*_weight`` multiplies one term of a message's logit effect; 1.0 everywhere is the default
    world, 0 switches a trait off, 2 doubles it. ``message_lift`` and ``interaction_scale`` are the
    baseline lift of any message and the scale of the customer × message × context fit.
    """

    category_match_weight: float = 1.0  # customer's category affinity × message category
    offer_weight: float = 1.0  # price sensitivity (and tier) × offer type and discount
    channel_weight: float = 1.0  # channel preference × channel
    timing_weight: float = 1.0  # preferred local hour × send hour
    tone_weight: float = 1.0  # price sensitivity, age and tier × tone
    fatigue_weight: float = 1.0  # logit lost per recent send
    annoyance_weight: float = 1.0  # the "sleeping dogs" a contact hurts
    organic_engagement: float = 0.55  # how much engagement moves the organic (hold-out) rate
    message_lift: float = 0.6
    interaction_scale: float = 0.45


class RevealSettings(BaseModel):
    """How much of the hidden traits the observable tables show (None = the size's default count)."""

    events_per_customer: float | None = None  # behaviour: browsing shows affinity, opens show channels
    reviews_per_customer: float | None = None  # reviews show affinity and price sensitivity in words
    # Share of category-bearing events drawn uniformly instead of from the customer's affinity.
    event_category_noise: float = 0.15
    # Share of the catalogue whose product_category column is NULL (only copy and banner tell it).
    hidden_category_share: float = 0.25
    # Share of messages whose title/body (copy) or banner are made for a random category and tone:
    # the content then says nothing true about the message.
    copy_noise: float = 0.0
    banner_noise: float = 0.0
    # Share of customers whose birth_year is NULL.
    missing_birth_year_share: float = 0.08


class LoggingPolicySettings(BaseModel):
    """The policy that chose the logged sends; every send records its exact propensity.

    ``targeted``: a share of message decisions aimed at the customer's most-browsed category, the rest
    uniform (the default world). ``uniform``: every allowed action equally likely. ``greedy``: mostly
    the best action by a noisy view of the true uplift (an earlier model), uniform with ``epsilon``.
    """

    kind: Literal["targeted", "uniform", "greedy"] = "targeted"
    holdout_share: float = 0.10
    targeted_share: float = 0.5
    epsilon: float = 0.2
    # Logit noise of the earlier model the greedy logging policy follows (0 = it knows the truth).
    greedy_noise: float = 0.7


class WorldSettings(BaseModel):
    """How big the synthetic world is, its structure and which faults it carries.

    The default values build the demo's world (same seed → same tables). ``structure`` names a preset
    of the fields below (WORLD_STRUCTURES); fields given explicitly win over the preset.
    """

    size: Literal["tiny", "small", "default"] = "default"
    seed: int = 7
    # Drift knob: share of the shift applied to the "current" period (0 = no drift).
    drift: float = 0.0
    # Bias knob: how much less the logging policy targets one protected group (0 = none).
    bias: float = 0.0
    history_days: int = 120
    structure: str = "default"
    # Size overrides: customers (2k–50k in the benchmarks) and messages; events, sends and reviews
    # scale with customers unless their own per-customer rate is set.
    customers: int | None = None
    messages: int | None = None
    sends_per_customer: float | None = None
    # Consent and channel mix: logit shift of consent per channel, share of customers consenting to nothing.
    consent_shift: dict[str, float] = Field(default_factory=dict)
    no_consent_share: float = 0.07
    # Share of the active catalogue launched on the last day: never sent, known only by copy, banner
    # and attributes (the new-message benchmark).
    new_message_share: float = 0.0
    response: ResponseWeights = Field(default_factory=ResponseWeights)
    reveal: RevealSettings = Field(default_factory=RevealSettings)
    logging: LoggingPolicySettings = Field(default_factory=LoggingPolicySettings)

    @model_validator(mode="before")
    @classmethod
    def _apply_structure(cls, data: Any) -> Any:
        """Fill the named structure's preset under the fields given explicitly."""
        if not isinstance(data, dict) or "structure" not in data:
            return data
        name = data["structure"]
        if name not in WORLD_STRUCTURES:
            raise ValueError(f"unknown world structure {name!r}; choose from {', '.join(WORLD_STRUCTURES)}")
        return _deep_merge(WORLD_STRUCTURES[name], data)

    @property
    def counts(self) -> dict[str, int]:
        """Rows to draw per table: the size's counts, scaled to ``customers`` and the per-customer rates."""
        base = dict(WORLD_SIZES[self.size])
        n = self.customers or base["customers"]
        scale = n / base["customers"]
        rates = {
            "events": self.reveal.events_per_customer,
            "sends": self.sends_per_customer,
            "reviews": self.reveal.reviews_per_customer,
        }
        out = {"customers": n, "messages": self.messages or base["messages"]}
        for table, rate in rates.items():
            out[table] = int(round(n * rate)) if rate is not None else int(round(base[table] * scale))
        return out


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# Named world structures for the generalisation benchmark (bench/generalisation.py). Each changes
# which traits drive the response, how much the data reveals, the logging policy and the contact mix.
WORLD_STRUCTURES: dict[str, dict[str, Any]] = {
    "default": {},
    # What is said matters most: category and tone fit dominate, channel and hour barely count; half
    # the catalogue hides its category column, so copy and banner carry it.
    "content": {
        "response": {"category_match_weight": 2.0, "tone_weight": 1.6, "channel_weight": 0.4, "timing_weight": 0.4},
        "reveal": {"hidden_category_share": 0.5},
        "logging": {"kind": "uniform"},
    },
    # When and where matter most: channel preference and hour dominate; consent is broad, so the
    # channel choice is open for most customers.
    "channel_timing": {
        "response": {"channel_weight": 2.0, "timing_weight": 2.2, "category_match_weight": 0.5, "tone_weight": 0.5},
        "consent_shift": {"push": 0.8, "sms": 1.0},
        "logging": {"kind": "targeted", "targeted_share": 0.7},
    },
    # Offers and price sensitivity drive the response; behaviour is thin (few events per customer)
    # but reviews are many; an earlier model logged mostly greedily.
    "price_sparse": {
        "response": {"offer_weight": 2.5, "category_match_weight": 0.6, "annoyance_weight": 1.5},
        "reveal": {"events_per_customer": 6.0, "reviews_per_customer": 1.5, "event_category_noise": 0.4},
        "sends_per_customer": 6.0,
        "logging": {"kind": "greedy", "epsilon": 0.3},
    },
    # Every term at once, but noisy copy and banners, many sends per customer and strong fatigue.
    "noisy_busy": {
        "response": {"fatigue_weight": 1.8, "interaction_scale": 0.6},
        "reveal": {"copy_noise": 0.3, "banner_noise": 0.3, "missing_birth_year_share": 0.3},
        "sends_per_customer": 16.0,
        "no_consent_share": 0.15,
        "logging": {"kind": "uniform", "holdout_share": 0.2},
    },
}
