"""The one configuration object: environment variables prefixed HERALD_, an optional YAML file, defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from models.settings import DeepSettings
from pipelines.config.paths import DEFAULT_HOME, REPO_ROOT
from pipelines.config.sections import (
    AlertSettings,
    HillstromSettings,
    MonitoringSettings,
    PolicySettings,
    PrivacySettings,
)
from pipelines.config.world import (
    WORLD_SIZES,
    WORLD_STRUCTURES,
    LoggingPolicySettings,
    ResponseWeights,
    RevealSettings,
    WorldSettings,
)
from pipelines.errors import ConfigError


def settings_file(home: Path) -> Path:
    """HERALD_HOME/settings.yaml: the settings `herald import` wrote for the imported data."""
    return Path(home) / "settings.yaml"


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
    # The deep + LightGBM + logreg blend (logits weighted by stacking on out-of-fold scores, one pyfunc).
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
    # Among candidates tied within intervals, the first listed wins. The blend comes first: it holds the
    # deep model, LightGBM and logreg with weights stacked out of fold, so on a tie it is the choice of
    # lower variance (content-s11 of the generalisation family: deep chosen on a tie, Herald 0.326
    # against the logreg peer's 0.398; README "Generalisation").
    promotion_preference: list[str] = Field(
        default_factory=lambda: ["blend", "deep", "lightgbm", "logreg", "fixed_action"]
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


__all__ = [
    "DEFAULT_HOME",
    "REPO_ROOT",
    "WORLD_SIZES",
    "WORLD_STRUCTURES",
    "AlertSettings",
    "DeepSettings",
    "HeraldConfig",
    "HillstromSettings",
    "LoggingPolicySettings",
    "MonitoringSettings",
    "PolicySettings",
    "PrivacySettings",
    "ResponseWeights",
    "RevealSettings",
    "WorldSettings",
    "load_config",
    "settings_file",
]
