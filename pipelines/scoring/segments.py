"""Customer segments: k-means over the champion's customer representation, profiled and written per run."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from pipelines.config import HeraldConfig
from pipelines.scoring.prepare import SCORING_ONLY_COLUMNS, ScoringPlan, iter_shard
from pipelines.training.registry import RegisteredModel, served_estimator
from pipelines.warehouse import get_warehouse

# Customers k-means is fitted on: a uniform sample keeps memory bounded whatever the customer count.
FIT_SAMPLE = 20_000
PROFILE_CATEGORIES = 3


def customer_representation(estimator: Any, customers: pd.DataFrame) -> np.ndarray:
    """The model's view of each customer as a dense matrix, one row per customer.

    A model that exposes ``customer_embeddings(rows)`` (the deep model's customer tower) gives its
    own; otherwise the fitted tabular preprocessor's standardised customer numerics plus one-hot
    customer categories are used, so clusters live in the space the model was trained in. Action,
    message and protected columns are not customer inputs of the preprocessor and so never count.
    """
    if hasattr(estimator, "customer_embeddings"):
        return np.asarray(estimator.customer_embeddings(customers), dtype=np.float64)
    prep = estimator.preprocessor
    cats, nums = prep.transform(customers)
    cat_cols = [j for j, c in enumerate(prep.categorical) if c in customers and c not in SCORING_ONLY_COLUMNS]
    num_cols = [j for j, c in enumerate(prep.numeric) if c in customers and c not in SCORING_ONLY_COLUMNS]
    blocks = [np.clip(nums[:, num_cols].astype(np.float64), -5.0, 5.0)]  # outliers must not own a cluster
    for j in cat_cols:
        size = len(prep.vocab[prep.categorical[j]])
        blocks.append(np.eye(size, dtype=np.float64)[cats[:, j]])
    return np.hstack(blocks) if blocks else np.zeros((len(customers), 1))


def fit_segments(plan: ScoringPlan, estimator: Any, k: int, seed: int = 7, sample: int = FIT_SAMPLE) -> KMeans:
    """Fit k-means on a bounded reservoir sample of customers streamed from the shards."""
    rng = np.random.default_rng(seed)
    reservoir: np.ndarray | None = None
    seen = 0
    for shard in plan.shards:
        for batch in iter_shard(plan, shard):
            x = customer_representation(estimator, batch)
            if reservoir is None:
                reservoir = np.empty((0, x.shape[1]))
            # Reservoir sampling (Algorithm R, vectorised per batch): every customer equally likely.
            take = min(len(x), max(sample - len(reservoir), 0))
            reservoir = np.vstack([reservoir, x[:take]])
            for i in range(take, len(x)):
                j = int(rng.integers(0, seen + i + 1))
                if j < sample:
                    reservoir[j] = x[i]
            seen += len(x)
    if reservoir is None or len(reservoir) == 0:
        raise ValueError("no customers to segment")
    n_clusters = max(1, min(k, len(reservoir)))
    return KMeans(n_clusters=n_clusters, n_init=4, random_state=seed).fit(reservoir)


def segments(
    cfg: HeraldConfig,
    run_id: str,
    plan: ScoringPlan,
    champion: RegisteredModel,
    estimator: Any | None = None,
    mlflow_run_id: str | None = None,
) -> dict[str, Any]:
    """Assign every customer a segment, stage them in ``customer_segments_staging`` and log the profiles.

    The segments become visible in ``customer_segments`` with the run's decisions, when
    :func:`pipelines.scoring.publish.publish` publishes the run.
    """
    estimator = estimator if estimator is not None else served_estimator(cfg, champion)
    seed = zlib.crc32(run_id.encode()) % (2**31)
    model = fit_segments(plan, estimator, cfg.policy.segments, seed=seed)
    # Relabel clusters by size, largest = 0, so segment numbers read the same way in every run.
    assigned: list[pd.DataFrame] = []
    stats: list[pd.DataFrame] = []
    for shard in plan.shards:
        for batch in iter_shard(plan, shard):
            labels = model.predict(customer_representation(estimator, batch))
            assigned.append(pd.DataFrame({"customer_id": batch["customer_id"].to_numpy(), "segment": labels}))
            stats.append(_profile_inputs(batch, labels))
    segments = pd.concat(assigned, ignore_index=True)
    sizes = segments["segment"].value_counts()
    relabel = {int(old): new for new, old in enumerate(sorted(sizes.index, key=lambda s: (-sizes[s], s)))}
    segments["segment"] = segments["segment"].map(relabel).astype("int64")
    profile = segment_profiles(pd.concat(stats, ignore_index=True).assign(segment=lambda f: f["segment"].map(relabel)))
    with get_warehouse(cfg) as warehouse:
        written = warehouse.write(
            "customer_segments_staging",
            segments.assign(run_id=run_id, logical_date=_logical_date(plan))[
                ["logical_date", "run_id", "customer_id", "segment"]
            ],
            mode="replace_run",
            run_filter={"run_id": run_id},
        )
    result = {
        "k": int(model.n_clusters),
        "customers": written,
        "representation": "customer_embeddings" if hasattr(estimator, "customer_embeddings") else "preprocessor",
        "profiles": profile,
    }
    if mlflow_run_id:
        _log_profiles(cfg, mlflow_run_id, result)
    return result


def _logical_date(plan: ScoringPlan) -> Any:
    from datetime import date

    from pipelines.scoring.publish import logical_date_of

    return date.fromisoformat(plan.logical_date) if plan.logical_date else logical_date_of(plan.as_of)


def _profile_inputs(batch: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """The few per-customer facts profiles are made of (kept small: one row per customer)."""
    return pd.DataFrame(
        {
            "segment": labels,
            "top_category": batch["evt_top_category"].to_numpy(dtype=object) if "evt_top_category" in batch else None,
            "loyalty_tier": batch["loyalty_tier"].to_numpy(dtype=object) if "loyalty_tier" in batch else None,
            "sends": batch["hist_sends"].to_numpy() if "hist_sends" in batch else 0,
            "converted": batch["hist_converted"].to_numpy() if "hist_converted" in batch else 0,
        }
    )


def segment_profiles(stats: pd.DataFrame) -> list[dict[str, Any]]:
    """Per segment: size, share, most common interest categories and tiers, past response rate."""
    out: list[dict[str, Any]] = []
    total = len(stats)
    for segment, part in stats.groupby("segment", sort=True):
        sends = int(part["sends"].sum())
        out.append(
            {
                "segment": int(segment),
                "size": int(len(part)),
                "share": float(len(part) / total) if total else 0.0,
                "top_categories": _top_shares(part["top_category"]),
                "top_tiers": _top_shares(part["loyalty_tier"]),
                "messages_received": sends,
                "response_rate": float(part["converted"].sum() / sends) if sends else None,
            }
        )
    return out


def _top_shares(values: pd.Series) -> dict[str, float]:
    shares = values.dropna().astype(str).value_counts(normalize=True).head(PROFILE_CATEGORIES)
    return {str(k): round(float(v), 3) for k, v in shares.items()}


def _log_profiles(cfg: HeraldConfig, mlflow_run_id: str, result: dict[str, Any]) -> None:
    import mlflow

    from pipelines.tracking import connect

    connect(cfg)
    with mlflow.start_run(run_id=mlflow_run_id):
        mlflow.log_dict(result, "segments/profiles.json")
        mlflow.log_metrics({f"segment_{p['segment']}_size": p["size"] for p in result["profiles"]})
        rates = {
            f"segment_{p['segment']}_response_rate": p["response_rate"]
            for p in result["profiles"]
            if p["response_rate"] is not None
        }
        mlflow.log_metrics(rates)
