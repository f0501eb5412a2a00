"""The one configuration object: environment variables prefixed HERALD_, an optional YAML file, defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from models.settings import DeepSettings
from pipelines.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOME = REPO_ROOT / ".herald"


def settings_file(home: Path) -> Path:
    """HERALD_HOME/settings.yaml: the settings `herald import` wrote for the imported data."""
    return Path(home) / "settings.yaml"


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


class PolicySettings(BaseModel):
    """Rules and economics of the next-best-message choice."""

    send_hours: list[int] = Field(default_factory=lambda: [8, 12, 18, 20])
    quiet_hours: list[int] = Field(default_factory=lambda: [22, 23, 0, 1, 2, 3, 4, 5, 6])
    channel_cost: dict[str, float] = Field(default_factory=lambda: {"email": 0.0005, "push": 0.001, "sms": 0.004})
    frequency_cap_7d: int = 3
    campaign_budget_per_run: int | None = None
    min_uplift: float = 0.002
    exploration: Literal["epsilon_greedy", "none"] = "epsilon_greedy"
    epsilon: float = 0.05
    # Randomized control group: this share of scored customers is drawn at random to get no message
    # (policy "control", reason "randomized_control"), so realised lift is measured against people
    # like those who were sent to. 0 = none; logged propensities include it.
    control_share: float = Field(default=0.0, ge=0.0, lt=1.0)
    # Customer segments: k of k-means over the model's customer representation (pipelines/segments.py).
    segments: int = 6
    # Off-policy evaluation (pipelines/ope.py, pipelines/policy_replay.py): logged contexts scored per
    # estimate, bootstrap resamples and the two-sided confidence level of the intervals.
    ope_max_rows: int = 4000
    ope_bootstrap: int = 200
    ope_confidence: float = 0.9
    # An off-policy estimate whose importance weights are worth fewer logged rows than this (Kish's
    # effective sample size) is reported but marked unreliable, and the gate takes it as no evidence.
    ope_min_effective_sample_size: float = 100.0
    # Gate on the reliable headline estimate (DR with optimistic shrinkage): refuse a challenger whose
    # policy is shown worse than the logging policy (upper end of the improvement interval below 0).
    ope_block_when_worse: bool = True


class MonitoringSettings(BaseModel):
    """Drift and fairness thresholds; a value above its threshold is a breach."""

    drift_method: Literal["psi", "wasserstein", "jensenshannon"] = "psi"
    drift_threshold: float = 0.2
    drift_share_threshold: float = 0.3
    fairness_dp_threshold: float = 0.2
    breaches_before_retrain: int = 2
    retrain_cooldown_days: int = 7
    # Further effect sizes measured beside drift_method, each with its own threshold (Evidently's
    # defaults). Wasserstein is normed by the reference's std and applies to numeric columns only.
    drift_extra_methods: dict[str, float] = Field(default_factory=lambda: {"wasserstein": 0.1, "jensenshannon": 0.1})
    # A feature counts as drifted when this many of its methods breach: one noisy estimator alone
    # (PSI on sparse shares, Wasserstein on rare counts) does not raise an alarm. Measured on the
    # tiny world (400 customers), same population a week later, no drift: max PSI 0.08, Wasserstein
    # 0.11 (evt_n_unsubscribe only), JS 0.10 — never two on one feature. Drift knob 1: the shift to
    # electronics clears W (0.35) and JS (0.16), PSI 0.196 just under; device and spend clear W only.
    drift_min_votes: int = 2
    # Columns with fewer non-null values than this on either side are not judged (noise only).
    drift_min_rows: int = 30
    # Drift tests (pipelines/monitoring/drift_tests.py): family-wise false-alarm level of one report
    # (Holm over every column's distribution and missing-share tests), permutations for small samples,
    # and the smallest effect (KS distance or total variation) that counts once a test is significant.
    drift_alpha: float = 0.05
    drift_permutations: int = 999
    drift_min_effect: float = 0.0
    # Principal components that summarise the deep model's customer/message embeddings.
    embedding_components: int = 3
    # Realised performance: decisions of the last lookback days whose outcomes had time to arrive.
    attribution_days: int = 7
    performance_lookback_days: int = 28
    performance_min_outcomes: int = 50
    performance_auc_min: float = 0.55
    performance_ece_max: float = 0.1
    # Fairness: groups from cfg.protected_attributes plus these customer columns, realised sends of
    # the last fairness_window_days, groups smaller than fairness_min_group_size left out.
    fairness_extra_attributes: list[str] = Field(default_factory=lambda: ["region"])
    fairness_eo_threshold: float = 0.2
    fairness_calibration_threshold: float = 0.1
    fairness_min_group_size: int = 30
    fairness_window_days: int = 14


class HillstromSettings(BaseModel):
    """The Hillstrom e-mail experiment as a real-data proof: where the file is, which outcome, how it is split."""

    # The CSV; default the shared copy beside the checkout (../shared/data/hillstrom/<file>).
    path: Path = Field(
        default=REPO_ROOT.parent
        / "shared"
        / "data"
        / "hillstrom"
        / "Kevin_Hillstrom_MineThatData_E-MailAnalytics_DataMiningChallenge_2008.03.20.csv"
    )
    # The outcome written into sends.converted, i.e. Herald's training target.
    target: Literal["visit", "conversion"] = "visit"
    # Imported into its own dataset and run state so it never mixes with the synthetic world.
    dataset: str = "hillstrom"
    home_subdir: str = "hillstrom"
    mlflow_experiment: str = "herald-hillstrom"
    # The two-week campaign ends this many days before "now", so the 7-day attribution window is closed.
    campaign_days: int = 14
    campaign_end_days_ago: int = 8
    # Random customer split: train / validation (the safe-policy decision) / test (what is reported);
    # early_stop_share of the training customers only steers early stopping.
    validation_share: float = 0.25
    test_share: float = 0.25
    early_stop_share: float = 0.15
    seed: int = 7
    bootstrap: int = 500
    confidence: float = 0.9
    # Personalization must beat the best fixed arm by at least this much at its lower bound.
    spi_margin: float = 0.0


class PrivacySettings(BaseModel):
    """Personal data: what Herald keeps, for how long, and what may become a model input (README "Privacy")."""

    # Days the Parquet hand-offs under HOME/runs and the reports under HOME/reports are kept; the
    # cleanup task of herald_monitoring deletes older ones (0 = keep forever).
    retention_days: int = 30
    # Drift references are stored as per-column distributions, never rows: a category shared by fewer
    # customers than this is pooled into one "rare" bucket, so a unique value cannot single anyone out.
    reference_min_count: int = 5
    # Quantiles kept per numeric column of the drift reference (the extremes are never stored).
    reference_quantiles: int = 100
    # Protected attributes the operator explicitly allows as model inputs (each must also be listed in
    # protected_attributes); every registered version records the list in its tag privacy.protected_inputs.
    allow_protected_inputs: list[str] = Field(default_factory=list)
    # Inputs listed on the model card as most associated with each protected attribute (proxies).
    proxy_top_k: int = 5
    # Association (Cramér's V, or the correlation ratio for numbers) from which an input is flagged a proxy.
    proxy_threshold: float = 0.3


class AlertSettings(BaseModel):
    """Where alerts go; nothing is sent while neither receiver is configured."""

    smtp_host: str | None = None
    smtp_port: int = 25
    email_from: str = "herald@localhost"
    email_to: list[str] = Field(default_factory=list)
    webhook_url: str | None = None
    # Airflow connections take precedence over the fields above when they exist.
    smtp_conn_id: str = "smtp_default"
    webhook_conn_id: str = "herald_webhook"
    timeout_s: float = 10.0


class HeraldConfig(BaseSettings):
    """Everything a Herald run needs to know about where it runs and how it decides."""

    model_config = SettingsConfigDict(
        env_prefix="HERALD_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    home: Path = Field(default=DEFAULT_HOME, description="local state: warehouse, MLflow, reports, runs")
    warehouse_backend: Literal["duckdb", "bigquery"] = "duckdb"
    warehouse_path: Path | None = Field(default=None, description="DuckDB file; default HOME/warehouse.duckdb")
    dataset: str = "herald"
    bigquery_project: str | None = None
    bigquery_location: str = "EU"
    gcp_conn_id: str = "google_cloud_default"
    bigquery_storage_api: bool = Field(
        default=True, description="download query results through the Storage Read API; false: REST only"
    )
    assets_uri: str | None = Field(default=None, description="where banner images live; default HOME/assets")

    mlflow_tracking_uri: str | None = Field(default=None, description="default sqlite under HOME/mlflow")
    mlflow_experiment: str = "herald"
    model_name: str = "herald-response"

    channels: list[str] = Field(default_factory=lambda: ["email", "push", "sms"])
    # Send hours are local: the customer's region decides the time zone (unknown region = UTC).
    region_timezones: dict[str, str] = Field(
        default_factory=lambda: {
            "uk": "Europe/London",
            "de": "Europe/Berlin",
            "fr": "Europe/Paris",
            "es": "Europe/Madrid",
            "pl": "Europe/Warsaw",
        }
    )
    implied_consent_channels: list[str] = Field(default_factory=list)
    protected_attributes: list[str] = Field(default_factory=lambda: ["gender", "age_band"])
    excluded_customer_columns: list[str] = Field(default_factory=list)
    target: Literal["converted", "clicked", "opened"] = "converted"
    # Training reads sends from the last label_window_days; features are taken as of its start.
    label_window_days: int = 60
    event_history_days: int = 60
    # Training protocol (pipelines/training/protocol.py): cv_folds time blocks of cv_fold_share of the
    # sends each, newest last; the newest cv_stop_share of a fold's training rows steers early stopping.
    cv_folds: int = 3
    cv_fold_share: float = 0.2
    cv_stop_share: float = 0.15
    # Calibration on out-of-fold scores; "auto": isotonic from 1,000 out-of-fold responders, else Platt.
    calibration: Literal["auto", "platt", "isotonic"] = "auto"
    # The deep + LightGBM blend (mean logit, one pyfunc) as a further candidate.
    training_blend: bool = True

    # Validation gate: quarantine tolerance, freshness and volume bands (see pipelines/validate.py).
    validation_max_rejected_share: float = 0.01
    validation_max_event_age_days: float = 2.0
    validation_volume_min_ratio: float = 0.5
    validation_volume_max_ratio: float = 3.0

    # Training/serving consistency: a scoring run stops when more values than this are unknown
    # categories or lie far outside the training range in any model input.
    serving_max_unknown_share: float = 0.2
    serving_max_out_of_range_share: float = 0.05

    # Pause between a failed task's tries; the DAG files read it (HERALD_RETRY_DELAY_S) when parsed.
    retry_delay_s: float = Field(default=120.0, description="seconds between an Airflow task's tries")

    scoring_shards: int = 4
    # Customers scored together in one model call: bounds a shard's memory, whatever the shard's size.
    scoring_batch_customers: int = 250
    # `make bench SECTION=scoring`: customers scored end to end (the world replicated up to this many),
    # and the slice of one shard whose peak memory is measured at 1× and 4×.
    bench_scoring_customers: int = Field(
        default=200_000, description="customers the scoring benchmark scores end to end (world replicated)"
    )
    bench_rss_customers: int = Field(
        default=5_000, description="customers of one shard whose peak memory the scoring benchmark measures at 1×/4×"
    )
    # Gate (pipelines/training/promotion.py; paired customer-bootstrap intervals on out-of-fold rows):
    # eligible = AUC gain over the prior rate (0.5) above min_auc_gain at the lower bound; ties on AUC
    # go by preference; refused when the upper bound of AUC − champion's (on at least
    # min_champion_rows rows newer than its data) is below promotion_margin; then ECE and group bounds.
    promotion_margin: float = 0.0
    promotion_bootstrap: int = 200
    promotion_confidence: float = 0.9
    promotion_min_auc_gain: float = 0.0
    promotion_min_champion_rows: int = 200
    promotion_preference: list[str] = Field(
        default_factory=lambda: ["deep", "blend", "lightgbm", "logreg", "fixed_action"]
    )
    promotion_max_ece: float = 0.05
    promotion_max_group_auc_gap: float = 0.15
    # When a protected group's AUC cannot be computed (group under the minimum size, or one class):
    # "block" refuses promotion; "waive" lets the other rules decide and records a waiver on the version.
    promotion_fairness_not_computed: Literal["block", "waive"] = "waive"

    world: WorldSettings = Field(default_factory=WorldSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    deep: DeepSettings = Field(default_factory=DeepSettings)
    hillstrom: HillstromSettings = Field(default_factory=HillstromSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)

    @field_validator("channels")
    @classmethod
    def _channels_are_identifiers(cls, value: list[str]) -> list[str]:
        for channel in value:
            if not channel.isidentifier() or channel == "none":
                raise ValueError(f"channel {channel!r} must be a plain identifier other than 'none'")
        return value

    @model_validator(mode="after")
    def _allowed_inputs_are_protected(self) -> HeraldConfig:
        unknown = [a for a in self.privacy.allow_protected_inputs if a not in self.protected_attributes]
        if unknown:
            raise ValueError(
                f"privacy.allow_protected_inputs names {', '.join(unknown)}, which is not in protected_attributes"
                f" ({', '.join(self.protected_attributes)}); list only protected attributes there"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = os.environ.get("HERALD_CONFIG_FILE")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        # Settings an import declared for its data (channels, zones…), below anything set explicitly.
        imported = settings_file(Path(os.environ.get("HERALD_HOME") or DEFAULT_HOME))
        if imported.is_file():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=imported))
        return tuple(sources)

    # ---- derived locations -------------------------------------------------------------
    @property
    def duckdb_path(self) -> Path:
        return self.warehouse_path or self.home / "warehouse.duckdb"

    @property
    def assets_dir(self) -> Path:
        return Path(self.assets_uri) if self.assets_uri and "://" not in self.assets_uri else self.home / "assets"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    @property
    def artifact_root(self) -> str:
        return (self.home / "mlflow" / "artifacts").as_uri()

    def run_dir(self, run_id: str) -> Path:
        """Folder for one DAG run's Parquet hand-offs; run ids may contain ':' and '+'."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
        path = self.runs_dir / safe
        path.mkdir(parents=True, exist_ok=True)
        return path


def load_config(**overrides: Any) -> HeraldConfig:
    """Build the config, turning pydantic's validation report into one readable line."""
    yaml_file = os.environ.get("HERALD_CONFIG_FILE")
    if yaml_file and not Path(yaml_file).is_file():
        raise ConfigError(f"HERALD_CONFIG_FILE points at {yaml_file}, which does not exist")
    try:
        return HeraldConfig(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']} (got {err.get('input')!r})"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid Herald configuration: {problems}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"HERALD_CONFIG_FILE {yaml_file} is not valid YAML: {exc}") from None
