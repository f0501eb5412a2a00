"""Model quality figures: discrimination, calibration and the plots a reviewer reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from pipelines.training.auc import RankedScores


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |observed − predicted| over equal-count bins of the prediction."""
    order = np.argsort(p)
    total = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk):
            total += len(chunk) * abs(float(y[chunk].mean()) - float(p[chunk].mean()))
    return total / max(len(p), 1)


def response_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC, PR-AUC, log loss, Brier and ECE; AUC is NaN when only one class is present."""
    y = np.asarray(y).astype(int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    both = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "positive_rate": float(y.mean()),
        "mean_prediction": float(p.mean()),
        "n": float(len(y)),
    }


def normalised_auc(auc: float, oracle_auc: float) -> float:
    """(AUC − 0.5) / (oracle AUC − 0.5): the share of the learnable signal a model captured."""
    return (auc - 0.5) / (oracle_auc - 0.5) if oracle_auc > 0.5 else float("nan")


def auc_comparison(
    y: np.ndarray,
    predictions: dict[str, np.ndarray],
    n_boot: int = 200,
    confidence: float = 0.90,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Each model's AUC and the first model's AUC minus it, with paired-bootstrap intervals.

    The first entry of ``predictions`` is the challenger; every bootstrap resample of the test rows
    is shared by all models (paired), so the interval of a difference reflects only how the two
    models disagree. Resamples with a single class are skipped. Returns per model ``auc``,
    ``auc_low``, ``auc_high`` and (not for the challenger) ``diff``, ``diff_low``, ``diff_high``.
    """
    y = np.asarray(y).astype(int)
    names = list(predictions)
    rng = np.random.default_rng(seed)
    ranked = [RankedScores(y, predictions[n]) for n in names]  # sorted once; a resample reweights the rows
    boots: list[list[float]] = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():
            continue
        drawn = np.bincount(idx, minlength=len(y)).astype(float)  # row i drawn c times weighs c
        boots.append([r.auc(drawn) for r in ranked])
    table = np.asarray(boots) if boots else np.full((1, len(names)), np.nan)
    lo, hi = (1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100
    out: dict[str, dict[str, float]] = {}
    for j, name in enumerate(names):
        row = {
            "auc": float(roc_auc_score(y, predictions[name])) if y.min() != y.max() else float("nan"),
            "auc_low": float(np.nanpercentile(table[:, j], lo)),
            "auc_high": float(np.nanpercentile(table[:, j], hi)),
        }
        if j:
            diff = table[:, 0] - table[:, j]
            row |= {
                "diff": out[names[0]]["auc"] - row["auc"],
                "diff_low": float(np.nanpercentile(diff, lo)),
                "diff_high": float(np.nanpercentile(diff, hi)),
            }
        out[name] = row
    return out


def save_quality_plots(y: np.ndarray, predictions: dict[str, np.ndarray], out_dir: Path, title: str) -> list[Path]:
    """ROC, precision-recall, calibration, cumulative-gain and lift-by-decile charts, one PNG each (800×600).

    The first entry of ``predictions`` is the model under review (drawn bold); the others, e.g. the
    baselines of the same run on the same rows, are drawn beside it for comparison. One chart per
    file keeps each readable in MLflow's artifact viewer. Returns the paths in the order above.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

    out_dir.mkdir(parents=True, exist_ok=True)
    y = np.asarray(y).astype(int)
    names = ("roc", "precision_recall", "calibration", "cumulative_gain", "lift_by_decile")
    figures = {name: plt.subplots(figsize=(8, 6)) for name in names}
    ax = {name: pair[1] for name, pair in figures.items()}
    deciles = np.linspace(0.1, 1.0, 10)
    lim = 0.0
    for i, (name, p) in enumerate(predictions.items()):
        style = {"linewidth": 2.4 if i == 0 else 1.2, "alpha": 1.0 if i == 0 else 0.75}
        label = f"{name} (AUC {roc_auc_score(y, p):.3f})" if len(np.unique(y)) == 2 else name
        fpr, tpr, _ = roc_curve(y, p)
        ax["roc"].plot(fpr, tpr, label=label, **style)
        prec, rec, _ = precision_recall_curve(y, p)
        ax["precision_recall"].plot(rec, prec, label=name, **style)
        frac_pos, mean_pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax["calibration"].plot(mean_pred, frac_pos, "o-", label=name, markersize=4, **style)
        lim = max(lim, float(np.max(mean_pred)), float(np.max(frac_pos)))
        ranked = y[np.argsort(-p, kind="stable")]
        gains = np.cumsum(ranked) / max(y.sum(), 1)
        points = [gains[int(d * len(y)) - 1] for d in deciles]
        ax["cumulative_gain"].plot(deciles, points, "o-", label=name, markersize=4, **style)
        # Lift: each decile's response rate (best-scored first) over the overall rate.
        lift = [chunk.mean() / max(y.mean(), 1e-12) for chunk in np.array_split(ranked, 10)]
        ax["lift_by_decile"].plot(np.arange(1, 11), lift, "o-", label=name, markersize=4, **style)
    ax["roc"].plot([0, 1], [0, 1], "--", color="grey", label="random")
    ax["roc"].set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    ax["precision_recall"].axhline(y.mean(), linestyle="--", color="grey", label="random")
    ax["precision_recall"].set(title="Precision-recall", xlabel="recall", ylabel="precision")
    lim *= 1.05
    ax["calibration"].plot([0, lim], [0, lim], "--", color="grey", label="perfect")
    ax["calibration"].set(
        title="Calibration (10 equal-count bins)",
        xlabel="mean predicted",
        ylabel="observed rate",
        xlim=(0, lim),
        ylim=(0, lim),
    )
    ax["cumulative_gain"].plot([0, 1], [0, 1], "--", color="grey", label="random")
    ax["cumulative_gain"].set(title="Cumulative gain by decile", xlabel="share targeted", ylabel="share of responders")
    ax["lift_by_decile"].axhline(1.0, linestyle="--", color="grey", label="random")
    ax["lift_by_decile"].set(
        title="Lift by decile",
        xlabel="decile (1 = highest scores)",
        ylabel="response rate / overall",
        xticks=range(1, 11),
    )
    paths = []
    for name, (fig, axis) in figures.items():
        axis.legend(fontsize=9)
        axis.grid(alpha=0.3)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
