"""The synthetic marketing world: customers, behaviour, catalogue, logged sends and the true response."""

from pipelines.synthetic.behaviour import local_hour
from pipelines.synthetic.latents import CATEGORIES, REGION_TIMEZONES, REGIONS, TONES
from pipelines.synthetic.response import TrueResponse, load_oracle
from pipelines.synthetic.sends import HOLDOUT_SHARE, RECENT_DAYS, SENDS_WINDOW_DAYS
from pipelines.synthetic.world import (
    BIASED_GROUP,
    DRIFT_WINDOW_DAYS,
    DRIFTED_FEATURES,
    World,
    build_world,
    generate_world,
    write_world,
)

__all__ = [
    "BIASED_GROUP",
    "CATEGORIES",
    "DRIFTED_FEATURES",
    "DRIFT_WINDOW_DAYS",
    "HOLDOUT_SHARE",
    "RECENT_DAYS",
    "REGIONS",
    "REGION_TIMEZONES",
    "SENDS_WINDOW_DAYS",
    "TONES",
    "TrueResponse",
    "World",
    "build_world",
    "generate_world",
    "load_oracle",
    "local_hour",
    "write_world",
]
