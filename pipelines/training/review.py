"""Review material for a registered model: per-group metrics, modality ablation, attributions, model card."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

# Raw input columns of each modality; blanking them is how an ablation "switches a tower off".
MODALITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": ("evt_sequence",),
    "reviews": ("rev_text", "rev_count", "rev_mean_rating"),
    "message_text": ("msg_title", "msg_body"),
    "banner": ("msg_image_uri",),
}
EVENT_AGGREGATE_PREFIX = "evt_"
MIN_GROUP_POSITIVES = 50  # with fewer responders a group's AUC is too noisy to judge a model by


@dataclass
class Review:
    """Everything a reviewer reads next to the metrics: groups, ablations, attributions, card."""

    group_metrics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # Largest AUC gap over the groups whose AUC could be computed; None when no attribute had two.
    max_group_auc_gap: float | None = None
    ablation_auc: dict[str, float] = field(default_factory=dict)
    attributions: dict[str, float] = field(default_factory=dict)
    # Deep models only: integrated gradients per modality (models/attribution.py), on a smaller sample.
    modality_attributions: dict[str, Any] = field(default_factory=dict)

    @property
    def auc_not_computed(self) -> list[str]:
        """ "attribute=group (n=…, responders=…)" for every group whose AUC could not be computed."""
        return [
            f"{column}={g} (n={int(m['n'])}, responders={int(m['positives'])})"
            for column, per in self.group_metrics.items()
            for g, m in per.items()
            if m.get("auc_status", "ok") != "ok"
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def group_metrics(
    rows: pd.DataFrame, p: np.ndarray, groups: list[str], min_class: int = MIN_GROUP_POSITIVES
) -> tuple[dict[str, Any], float | None]:
    """AUC, mean prediction and response rate per protected group; the largest AUC gap between groups.

    A group's AUC is computed only with at least ``min_class`` responders and non-responders; else
    it is NaN with ``auc_status`` "not computed: …" and its counts. Missing attribute values form the
    group "unknown". The gap covers groups with a computed AUC and is None when no attribute has two.
    Groups are visited in sorted order, so the result does not depend on the order of the rows.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    gaps: list[float] = []
    y_all = rows["label"].to_numpy(dtype=float)
    p = np.asarray(p, dtype=float)
    for column in groups:
        if column not in rows:
            continue
        values = rows[column].astype("object").where(rows[column].notna(), "unknown").astype(str).to_numpy()
        per: dict[str, dict[str, Any]] = {}
        for value in sorted(set(values.tolist())):
            mask = values == value
            y, pv = y_all[mask], p[mask]
            pos = int(y.sum())
            if min(pos, len(y) - pos) >= min_class:
                auc, status = float(roc_auc_score(y, pv)), "ok"
            else:
                auc = float("nan")
                status = f"not computed: {pos} responders, {len(y) - pos} non-responders (< {min_class} of each)"
            per[value] = {
                "n": float(len(y)),
                "positives": float(pos),
                "auc": auc,
                "auc_status": status,
                "mean_prediction": float(pv.mean()),
                "response_rate": float(y.mean()),
            }
        aucs = [m["auc"] for m in per.values() if np.isfinite(m["auc"])]
        if len(aucs) >= 2:
            gaps.append(max(aucs) - min(aucs))
        out[column] = per
    return out, (max(gaps) if gaps else None)


def ablation(estimator: Any, rows: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    """Test AUC with each modality's raw inputs blanked, next to the full model's."""
    result = {"full": float(roc_auc_score(y, estimator.predict_proba(rows)))}
    schema = set(estimator.input_schema())
    evt_aggregates = tuple(c for c in rows.columns if c.startswith(EVENT_AGGREGATE_PREFIX) and c != "evt_sequence")
    groups = {**MODALITY_COLUMNS, "event_aggregates": evt_aggregates}
    for name, columns in groups.items():
        used = [c for c in columns if c in schema]
        if not used:
            continue
        blanked = rows.copy()
        for column in used:
            blanked[column] = None if blanked[column].dtype == object else np.nan
        result[name] = float(roc_auc_score(y, estimator.predict_proba(blanked)))
    return result


def permutation_attributions(
    estimator: Any, rows: pd.DataFrame, y: np.ndarray, top: int = 15, seed: int = 7
) -> dict[str, float]:
    """AUC lost when one input column is shuffled across rows (model-agnostic attribution)."""
    rng = np.random.default_rng(seed)
    base = float(roc_auc_score(y, estimator.predict_proba(rows)))
    drops: dict[str, float] = {}
    for column in estimator.input_schema():
        if column not in rows:
            continue
        shuffled = rows.copy()
        shuffled[column] = rng.permutation(shuffled[column].to_numpy())
        drops[column] = base - float(roc_auc_score(y, estimator.predict_proba(shuffled)))
    return dict(sorted(drops.items(), key=lambda kv: -kv[1])[:top])


def review_model(
    estimator: Any,
    test: pd.DataFrame,
    groups: list[str],
    sample_rows: int = 8000,
    gradient_rows: int = 1000,
    permutation_rows: int = 4000,
) -> Review:
    """Group metrics on the whole test split; ablation and attributions on samples (they predict many times).

    Ablation predicts once per modality on ``sample_rows``; permutation predicts once per input
    column (about a hundred), so it takes the first ``permutation_rows`` of that sample.
    """
    test = test.reset_index(drop=True)
    per_group, gap = group_metrics(test, estimator.predict_proba(test), groups)
    sample = test.sample(min(sample_rows, len(test)), random_state=7).reset_index(drop=True)
    y = sample["label"].to_numpy()
    if len(np.unique(y)) < 2:
        return Review(per_group, gap)
    gradients = (
        estimator.modality_attributions(sample.head(gradient_rows))
        if hasattr(estimator, "modality_attributions")
        else {}
    )
    # The whole sample when the smaller one would hold one class only (AUC undefined).
    n_perm = permutation_rows if len(np.unique(y[:permutation_rows])) == 2 else len(sample)
    return Review(
        per_group,
        gap,
        ablation(estimator, sample, y),
        permutation_attributions(estimator, sample.head(n_perm), y[:n_perm]),
        gradients,
    )


def save_group_plot(review: Review, out_dir: Path) -> Path:
    """Bar charts of AUC and mean prediction vs response rate per protected group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = list(review.group_metrics)
    fig, axes = plt.subplots(1, max(len(columns), 1), figsize=(5 * max(len(columns), 1), 3.8), squeeze=False)
    for ax, column in zip(axes[0], columns):
        per = review.group_metrics[column]
        names = list(per)
        x = np.arange(len(names))
        ax.bar(x - 0.2, [per[n]["mean_prediction"] for n in names], 0.4, label="mean predicted")
        ax.bar(x + 0.2, [per[n]["response_rate"] for n in names], 0.4, label="observed rate")
        for i, n in enumerate(names):
            auc = f"AUC {per[n]['auc']:.2f}" if np.isfinite(per[n]["auc"]) else "AUC n/c"
            ax.annotate(
                f"n={int(per[n]['n'])}\n{auc}",
                (i, max(per[n]["mean_prediction"], per[n]["response_rate"])),
                ha="center",
                va="bottom",
                fontsize=7,
            )
        ax.set_xticks(x, names, rotation=30, fontsize=8)
        ax.set_title(column)
        ax.legend(fontsize=7)
    fig.suptitle("Per-group mean prediction vs observed rate, with group size and AUC (n/c = not computed; test split)")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "per_group_metrics.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
