"""The sections of the configuration object: policy, monitoring, Hillstrom, privacy and alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from pipelines.config.paths import REPO_ROOT


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
