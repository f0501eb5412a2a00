"""The one configuration object: environment variables prefixed HERALD_, an optional YAML file, defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from models.settings import DeepSettings
from pipelines.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent

# World sizes: "tiny" for tests, "default" for the demo and benchmarks.
WORLD_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"customers": 400, "events": 8_000, "messages": 12, "sends": 4_000, "reviews": 200},
    "small": {"customers": 4_000, "events": 80_000, "messages": 24, "sends": 40_000, "reviews": 2_000},
    "default": {"customers": 20_000, "events": 400_000, "messages": 40, "sends": 200_000, "reviews": 10_000},
}


class WorldSettings(BaseModel):
    """How big the synthetic world is and which faults it carries."""

    size: Literal["tiny", "small", "default"] = "default"
    seed: int = 7
    # Drift knob: share of the shift applied to the "current" period (0 = no drift).
    drift: float = 0.0
    # Bias knob: how much less the logging policy targets one protected group (0 = none).
    bias: float = 0.0
    history_days: int = 120

    @property
    def counts(self) -> dict[str, int]:
        return WORLD_SIZES[self.size]


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
    # Customer segments: k of k-means over the model's customer representation (pipelines/segments.py).
    segments: int = 6
    # Off-policy evaluation (pipelines/ope.py, pipelines/policy_replay.py): logged contexts scored per
    # estimate, bootstrap resamples and the two-sided confidence level of the intervals.
    ope_max_rows: int = 4000
    ope_bootstrap: int = 200
    ope_confidence: float = 0.9


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

    home: Path = Field(default=REPO_ROOT / ".herald", description="local state: warehouse, MLflow, reports, runs")
    warehouse_backend: Literal["duckdb", "bigquery"] = "duckdb"
    warehouse_path: Path | None = Field(default=None, description="DuckDB file; default HOME/warehouse.duckdb")
    dataset: str = "herald"
    bigquery_project: str | None = None
    bigquery_location: str = "EU"
    gcp_conn_id: str = "google_cloud_default"
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

    scoring_shards: int = 4
    # Customers scored together in one model call: bounds a shard's memory, whatever the shard's size.
    scoring_batch_customers: int = 250
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

    world: WorldSettings = Field(default_factory=WorldSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    deep: DeepSettings = Field(default_factory=DeepSettings)
    hillstrom: HillstromSettings = Field(default_factory=HillstromSettings)

    @field_validator("channels")
    @classmethod
    def _channels_are_identifiers(cls, value: list[str]) -> list[str]:
        for channel in value:
            if not channel.isidentifier() or channel == "none":
                raise ValueError(f"channel {channel!r} must be a plain identifier other than 'none'")
        return value

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
