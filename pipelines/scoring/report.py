"""The decisions report of one scoring run: what was sent, why not, predicted and (later) realised lift.

An HTML page (Jinja2 template ``templates/decisions_report.html.j2`` plus matplotlib PNGs) under
``HERALD_HOME/reports/decisions/<run>/``, also logged to the run's MLflow run. Written by the
scoring DAG right after publication, and again by monitoring once the outcomes of the sends have
arrived, so the same page then shows realised lift against the randomized control group.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.policy.choice import CONTROL, RANDOMIZED_CONTROL
from pipelines.warehouse import get_warehouse

TEMPLATES = Path(__file__).parent / "templates"
CONFIDENCE = 0.90
Z = 1.6449  # two-sided 90% normal quantile
# Plain words for every reason a customer gets no message, and whether a rule or chance decided it.
REASON_WORDS: dict[str, tuple[str, str]] = {
    "below_threshold": ("predicted uplift below the threshold", "model"),
    "no_consent": ("no consent on any channel", "rule"),
    "frequency_cap": ("frequency cap reached", "rule"),
    "quiet_hours": ("only quiet hours left", "rule"),
    "unsubscribed": ("unsubscribed", "rule"),
    "no_active_message": ("no active message", "rule"),
    "campaign_budget": ("campaign budget spent", "rule"),
    "explore_holdout": ("exploration drew 'send nothing'", "exploration (random)"),
}


def report_dir(cfg: HeraldConfig, run_id: str) -> Path:
    """Where a run's report lives: reports/decisions/<run id made safe for a path>/."""
    return cfg.reports_dir / "decisions" / re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.1%}"


def _mean_interval(values: np.ndarray, rng: np.random.Generator, n_boot: int = 400) -> tuple[float, float, float]:
    """Mean and its percentile-bootstrap interval at CONFIDENCE (NaNs when empty)."""
    if not len(values):
        return float("nan"), float("nan"), float("nan")
    boots = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    return float(values.mean()), float(np.percentile(boots, tail)), float(np.percentile(boots, 100 - tail))


def summarize_decisions(decisions: pd.DataFrame) -> dict[str, Any]:
    """Counts in plain words: sent, no message by reason (rule/model/random), and the randomized control.

    ``decisions`` holds one scoring run's rows of the ``decisions`` table.
    """
    sent = decisions["message_id"].notna()
    control = (decisions["policy"] == CONTROL) | (decisions["reason"] == RANDOMIZED_CONTROL)
    scored = decisions["policy"].isin(["exploit", "explore", CONTROL])
    counts = decisions.loc[~sent & ~control, "reason"].fillna("unknown").value_counts()
    reasons = [
        {
            "reason": str(k),
            "words": REASON_WORDS.get(str(k), (str(k).replace("_", " "), "other"))[0],
            "kind": REASON_WORDS.get(str(k), ("", "other"))[1],
            "count": int(v),
            "share": _pct(v / max(len(decisions), 1)),
        }
        for k, v in counts.items()
    ]
    return {
        "customers": int(len(decisions)),
        "sent": int(sent.sum()),
        "no_message": int((~sent).sum()),
        "control": int(control.sum()),
        "control_share": _pct(control.sum() / max(int(scored.sum()), 1)),
        "control_share_all": _pct(control.sum() / max(len(decisions), 1)),
        "reasons": reasons,
    }


def plain_summary(summary: dict[str, Any]) -> str:
    """One sentence: "no message: 12,000 (below threshold 9,000; no consent 2,000 …)"."""
    parts = "; ".join(f"{r['words']} {r['count']:,}" for r in summary["reasons"])
    text = f"{summary['sent']:,} messages; no message: {summary['no_message']:,}"
    text += f" ({parts}" + (f"; randomized control {summary['control']:,}" if summary["control"] else "") + ")"
    return text


def realised_lift(matched: pd.DataFrame) -> dict[str, Any] | None:
    """Conversion of treated (sent by the policy) vs the randomized control, and the difference.

    ``matched`` is ``monitoring.outcomes.match_outcomes`` output (decisions with a ``label``). The
    interval of the difference is the normal approximation at CONFIDENCE; None without both groups.
    """
    if matched is None or not len(matched):
        return None
    treated = matched[matched["message_id"].notna()]
    control = matched[(matched["policy"] == CONTROL) | (matched["reason"] == RANDOMIZED_CONTROL)]
    if not len(treated) or not len(control):
        return None
    p1, n1, p0, n0 = treated["label"].mean(), len(treated), control["label"].mean(), len(control)
    se = float(np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0))
    diff = float(p1 - p0)
    predicted = treated["uplift"].astype(float).mean()

    def rate(p: float, n: int) -> str:
        half = Z * np.sqrt(p * (1 - p) / n)
        return f"{p:.2%} [{max(p - half, 0):.2%}, {p + half:.2%}]"

    return {
        "groups": [
            {"name": "treated (sent a message)", "n": n1, "rate": rate(p1, n1), "p": p1},
            {"name": "randomized control", "n": n0, "rate": rate(p0, n0), "p": p0},
        ],
        "lift_value": diff,
        "lift_low": diff - Z * se,
        "lift_high": diff + Z * se,
        "lift": f"{diff:+.2%} [{diff - Z * se:+.2%}, {diff + Z * se:+.2%}]",
        "predicted": f"{predicted:+.2%}" if np.isfinite(predicted) else "",
    }


def _charts(decisions: pd.DataFrame, realised: dict[str, Any] | None, out: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts: dict[str, str] = {}
    sent = decisions[decisions["message_id"].notna()]
    if len(sent):
        table = sent.pivot_table(index="send_hour", columns="channel", values="customer_id", aggfunc="count").fillna(0)
        fig, ax = plt.subplots(figsize=(8, 4.5))
        table.plot.bar(stacked=True, ax=ax)
        ax.set(title="Messages per local send hour and channel", xlabel="send hour (customer's time zone)")
        ax.set_ylabel("messages")
        fig.tight_layout()
        fig.savefig(out / "volume_by_hour.png", dpi=100)
        plt.close(fig)
        charts["volume_by_hour"] = "volume_by_hour.png"
    if realised:
        fig, ax = plt.subplots(figsize=(6, 4.5))
        groups = realised["groups"]
        rates = [g["p"] for g in groups]
        errs = [Z * np.sqrt(g["p"] * (1 - g["p"]) / g["n"]) for g in groups]
        ax.bar([g["name"] for g in groups], rates, yerr=errs, capsize=6, color=["tab:blue", "tab:grey"])
        ax.set(title=f"Conversion: treated vs randomized control ({CONFIDENCE:.0%} intervals)", ylabel="rate")
        fig.tight_layout()
        fig.savefig(out / "realised_lift.png", dpi=100)
        plt.close(fig)
        charts["realised"] = "realised_lift.png"
    return charts


def render_decisions_report(
    decisions: pd.DataFrame,
    messages: pd.DataFrame,
    out: Path,
    *,
    run_id: str,
    matched: pd.DataFrame | None = None,
    as_of: datetime | None = None,
    attribution_days: int = 7,
) -> tuple[Path, dict[str, Any]]:
    """Write ``out/index.html`` and its PNGs; returns the path and the figures it shows."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize_decisions(decisions)
    rng = np.random.default_rng(0)
    sent = decisions[decisions["message_id"].notna()]
    channels = sorted(sent["channel"].dropna().unique().tolist())
    titles = messages.set_index("message_id")["title"].to_dict() if "title" in messages else {}
    per_message = []
    for message_id, group in sent.groupby("message_id"):
        row = {"message_id": message_id, "title": titles.get(message_id, ""), "total": len(group)}
        row |= {c: int((group["channel"] == c).sum()) for c in channels}
        per_message.append(row)
    uplift = []
    for name, group in [("all", sent), *sent.groupby("channel")]:
        mean, low, high = _mean_interval(group["uplift"].astype(float).to_numpy(), rng)
        total = group["uplift"].astype(float).sum()
        uplift.append(
            {"group": name, "n": len(group), "mean": f"{mean:+.2%} [{low:+.2%}, {high:+.2%}]", "total": f"{total:.1f}"}
        )
    realised = realised_lift(matched) if matched is not None else None
    if matched is None:
        missing = (
            "No outcomes yet: they arrive within the attribution window after the sends; monitoring rewrites this page."
        )
    else:
        missing = f"{len(matched)} decisions have outcomes, but treated and randomized control are not both among them."
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    env.filters["num"] = lambda v: f"{int(v):,}"
    html = env.get_template("decisions_report.html.j2").render(
        run_id=run_id,
        decided_at=str(decisions["decided_at"].max()) if len(decisions) else "n/a",
        model=", ".join(sorted({f"{a} v{b}" for a, b in zip(decisions["model_name"], decisions["model_version"])})),
        written_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        as_of=as_of.isoformat() if as_of else None,
        channels=channels,
        per_message=per_message,
        uplift=uplift,
        realised=realised,
        realised_missing=missing,
        attribution_days=attribution_days,
        confidence=f"{CONFIDENCE:.0%}",
        charts=_charts(decisions, realised, out),
        **summary,
    )
    path = out / "index.html"
    path.write_text(html)
    return path, {"summary": summary, "plain": plain_summary(summary), "realised": realised}


def write_decisions_report(
    cfg: HeraldConfig, run_id: str, *, as_of: datetime | None = None, mlflow_run_id: str | None = None
) -> tuple[Path, dict[str, Any]]:
    """Read a scoring run's decisions (and, given ``as_of``, the outcomes final by then) and write its report.

    The report also becomes ``reports/decisions/latest`` (a copy of the path in ``latest.txt``)
    and, with ``mlflow_run_id``, artifacts ``decisions_report/`` of that run.
    """
    from pipelines.monitoring.outcomes import match_outcomes

    with get_warehouse(cfg) as warehouse:
        decisions = warehouse.query("decisions_for_run", {"run_id": run_id})
        messages = warehouse.query("extract_messages")
        matched = None
        if as_of is not None and len(decisions):
            since = pd.Timestamp(decisions["decided_at"].min()).to_pydatetime()
            final = pd.Timestamp(as_of) - pd.Timedelta(days=cfg.monitoring.attribution_days)
            sends = warehouse.query("extract_sends", {"since": since, "until": final.to_pydatetime()})
            matched = match_outcomes(decisions, sends, cfg.monitoring.attribution_days, cfg.target)
    out = report_dir(cfg, run_id)
    path, figures = render_decisions_report(
        decisions,
        messages,
        out,
        run_id=run_id,
        matched=matched,
        as_of=as_of,
        attribution_days=cfg.monitoring.attribution_days,
    )
    (cfg.reports_dir / "decisions" / "latest.txt").write_text(str(path))
    if mlflow_run_id:
        import mlflow

        from pipelines.tracking import connect

        connect(cfg)
        with mlflow.start_run(run_id=mlflow_run_id):
            mlflow.log_artifacts(str(out), "decisions_report")
    return path, figures
