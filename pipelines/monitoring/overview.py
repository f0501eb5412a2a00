"""The monitoring overview: drift, realised performance and fairness across past runs, as trends.

Reads every row of ``monitoring_metrics`` (one run per ``run_id``), draws one PNG per trend and
renders ``templates/overview.html.j2`` to ``HERALD_HOME/reports/monitoring/overview.html``, linking
the latest Evidently drift report and the latest decisions report (relative links, so the pages
work from disk, from MLflow's artifacts and from the Herald view in Airflow alike).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.warehouse import get_warehouse

TEMPLATES = Path(__file__).parent / "templates"


def overview_dir(cfg: HeraldConfig) -> Path:
    """Where the overview and its charts live."""
    return cfg.reports_dir / "monitoring"


def run_table(metrics: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per monitoring run, oldest first: drifted share, realised lift and what breached.

    ``metrics`` holds ``monitoring_metrics`` rows (run_id, computed_at, kind, subject, metric,
    value, threshold, breached).
    """
    out = []
    for run_id, rows in metrics.groupby("run_id", sort=False):
        drift = rows[(rows["kind"] == "data_drift") & (rows["metric"] == "drifted_share")]["value"]
        lift = rows[
            (rows["kind"] == "performance") & (rows["subject"] == "all") & (rows["metric"] == "realised_uplift")
        ]
        breached = rows[rows["breached"].fillna(False).astype(bool)]
        out.append(
            {
                "run_id": run_id,
                "computed_at": pd.Timestamp(rows["computed_at"].min()).strftime("%Y-%m-%d %H:%M"),
                "drifted_share": f"{drift.iloc[0]:.0%}" if len(drift) else "n/a",
                "realised_uplift": f"{lift['value'].iloc[0]:+.2%}" if len(lift) else "no outcomes yet",
                "breaches": [f"{r.kind} {r.subject} {r.metric} {r.value:.3f}" for r in breached.itertuples()][:6],
            }
        )
    return out


def _trend(
    metrics: pd.DataFrame, mask: pd.Series, label: str, out: Path, name: str, title: str, ylabel: str
) -> str | None:
    """Plot value per run (x = run order) for each ``label`` series among ``mask`` rows, with thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = metrics[mask]
    if rows.empty:
        return None
    order = {r: i for i, r in enumerate(metrics["run_id"].drop_duplicates())}
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for key, series in rows.groupby(label):
        xs = series["run_id"].map(order).to_numpy()
        ax.plot(xs, series["value"].to_numpy(dtype=float), "o-", label=str(key))
        threshold = series["threshold"].dropna()
        if len(threshold):
            ax.axhline(float(threshold.iloc[-1]), linestyle="--", color="grey", linewidth=0.8)
    runs = list(order)
    ax.set_xticks(range(len(runs)), [r[-16:] for r in runs], rotation=20, fontsize=7)
    ax.set(title=title, ylabel=ylabel, xlabel="monitoring run (oldest first); dashed: threshold")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / name, dpi=100)
    plt.close(fig)
    return name


def render_overview(metrics: pd.DataFrame, out: Path, evidently: Path | None, decisions: Path | None) -> Path:
    """Write ``out/overview.html`` and its trend PNGs from ``monitoring_metrics`` rows."""
    out.mkdir(parents=True, exist_ok=True)
    metrics = metrics.sort_values("computed_at", kind="stable")
    m = metrics
    drift_share = (m["kind"] == "data_drift") & (m["metric"] == "drifted_share")
    drift_features = (m["kind"] == "data_drift") & (m["subject"] != "all_features")
    top = m[drift_features].groupby("subject")["value"].max().nlargest(6).index if drift_features.any() else []
    performance = (m["kind"] == "performance") & (m["subject"] == "all") & m["metric"].isin(["realised_uplift", "auc"])
    fairness = (m["kind"] == "fairness") & m["metric"].str.endswith("dp_difference")
    specs = [
        (
            drift_share,
            "metric",
            "drift_share.png",
            "Share of drifted features",
            "share",
            "Evidently's per-feature tests.",
        ),
        (
            drift_features & m["subject"].isin(top),
            "subject",
            "drift_features.png",
            "Drift of the most drifted features",
            "drift score",
            "The six features that drifted most in any run.",
        ),
        (
            performance,
            "metric",
            "performance.png",
            "Realised performance of past decisions",
            "value",
            "AUC on delivered messages and realised uplift (sent − not sent), once outcomes are final.",
        ),
        (
            fairness,
            "subject",
            "fairness.png",
            "Fairness: targeting parity gaps",
            "gap",
            "Demographic-parity differences.",
        ),
    ]
    charts = []
    for mask, label, name, title, ylabel, note in specs:
        file = _trend(m, mask, label, out, name, title, ylabel)
        missing = "No runs have measured this yet."
        charts.append({"title": title, "note": note, "file": file, "missing": missing})
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)

    def rel(p: Path | None) -> str | None:
        return os.path.relpath(p, out) if p and Path(p).exists() else None

    html = env.get_template("overview.html.j2").render(
        runs=run_table(m),
        charts=charts,
        written_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        evidently=rel(evidently),
        evidently_name=Path(evidently).name if evidently else "",
        decisions=rel(decisions),
    )
    path = out / "overview.html"
    path.write_text(html)
    return path


def write_overview(cfg: HeraldConfig, evidently: str | None = None, mlflow_run_id: str | None = None) -> Path:
    """Render the overview from the warehouse's ``monitoring_metrics``; log it to ``mlflow_run_id`` if given."""
    with get_warehouse(cfg) as warehouse:
        metrics = (
            warehouse.query("monitoring_metrics_history")
            if warehouse.has_table("monitoring_metrics")
            else pd.DataFrame(
                columns=["run_id", "computed_at", "kind", "subject", "metric", "value", "threshold", "breached"]
            )
        )
    latest = cfg.reports_dir / "decisions" / "latest.txt"
    decisions = Path(latest.read_text().strip()) if latest.is_file() else None
    metrics["value"] = pd.to_numeric(metrics["value"], errors="coerce").astype(float).replace([np.inf, -np.inf], np.nan)
    path = render_overview(metrics, overview_dir(cfg), Path(evidently) if evidently else None, decisions)
    if mlflow_run_id:
        import mlflow

        from pipelines.tracking import connect

        connect(cfg)
        with mlflow.start_run(run_id=mlflow_run_id):
            mlflow.log_artifacts(str(path.parent), "monitoring_overview")
    return path
