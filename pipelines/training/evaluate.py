"""Model quality figures: discrimination, calibration and the plots a reviewer reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


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


def save_quality_plots(y: np.ndarray, predictions: dict[str, np.ndarray], out_dir: Path, title: str) -> list[Path]:
    """ROC, precision-recall, calibration, cumulative-gain and lift-by-decile plots as PNG files.

    The first entry of ``predictions`` is the model under review (drawn bold); the others, e.g. the
    baselines of the same run on the same rows, are drawn beside it for comparison.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

    out_dir.mkdir(parents=True, exist_ok=True)
    y = np.asarray(y).astype(int)
    fig, axes = plt.subplots(1, 5, figsize=(22, 4.2))
    deciles = np.linspace(0.1, 1.0, 10)
    lim = 0.0
    for i, (name, p) in enumerate(predictions.items()):
        style = {"linewidth": 2.2 if i == 0 else 1.0, "alpha": 1.0 if i == 0 else 0.7}
        label = f"{name} (AUC {roc_auc_score(y, p):.3f})" if len(np.unique(y)) == 2 else name
        fpr, tpr, _ = roc_curve(y, p)
        axes[0].plot(fpr, tpr, label=label, **style)
        prec, rec, _ = precision_recall_curve(y, p)
        axes[1].plot(rec, prec, label=name, **style)
        frac_pos, mean_pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
        axes[2].plot(mean_pred, frac_pos, "o-", label=name, markersize=3, **style)
        lim = max(lim, float(np.max(mean_pred)), float(np.max(frac_pos)))
        ranked = y[np.argsort(-p, kind="stable")]
        gains = np.cumsum(ranked) / max(y.sum(), 1)
        axes[3].plot(deciles, [gains[int(d * len(y)) - 1] for d in deciles], "o-", label=name, markersize=3, **style)
        # Lift: each decile's response rate (best-scored first) over the overall rate.
        lift = [chunk.mean() / max(y.mean(), 1e-12) for chunk in np.array_split(ranked, 10)]
        axes[4].plot(np.arange(1, 11), lift, "o-", label=name, markersize=3, **style)
    axes[0].plot([0, 1], [0, 1], "--", color="grey")
    axes[0].set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    axes[1].set(title="Precision-recall", xlabel="recall", ylabel="precision")
    lim *= 1.05
    axes[2].plot([0, lim], [0, lim], "--", color="grey")
    axes[2].set(title="Calibration", xlabel="mean predicted", ylabel="observed rate", xlim=(0, lim), ylim=(0, lim))
    axes[3].plot([0, 1], [0, 1], "--", color="grey", label="random")
    axes[3].set(title="Cumulative gain by decile", xlabel="share targeted", ylabel="share of responders")
    axes[4].axhline(1.0, linestyle="--", color="grey")
    axes[4].set(
        title="Lift by decile",
        xlabel="decile (1 = highest scores)",
        ylabel="response rate / overall",
        xticks=range(1, 11),
    )
    for ax in axes:
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    path = out_dir / "quality_curves.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [path]
