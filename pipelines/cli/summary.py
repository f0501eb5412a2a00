"""``herald summary``: the demo's closing table in plain words."""

from __future__ import annotations

from rich.table import Table

from pipelines.cli.common import app, console
from pipelines.config import HeraldConfig, load_config


@app.command()
def summary() -> None:
    """Print what the latest runs did."""
    print_summary(load_config())


def print_summary(cfg: HeraldConfig) -> None:
    """What the latest training, scoring and monitoring runs did, in plain words."""
    from pipelines.tracking import read_run_summary

    training = read_run_summary(cfg, "herald_training")
    scoring = read_run_summary(cfg, "herald_scoring")
    monitoring = read_run_summary(cfg, "herald_monitoring")
    console.rule("Summary")
    if training:
        console.print("Data volumes: " + ", ".join(f"{k} {v:,}" for k, v in training["rows"].items()))
        validation = training["validation"]
        console.print(f"Validation: {'passed' if validation.get('passed') else 'FAILED'}")
        table = Table("model", "test AUC", "PR-AUC", "log loss", "Brier", "ECE", title="Models on the test split")
        for name, metrics in training["models"].items():
            table.add_row(
                name,
                *(
                    f"{metrics.get('test_' + k) if metrics.get('test_' + k) is not None else float('nan'):.4f}"
                    for k in ("auc", "pr_auc", "log_loss", "brier", "ece")
                ),
            )
        console.print(table)
        for release in training["releases"]:
            reg, gate = release["registered"], release["gate"]
            verdict = "promoted to champion" if gate["promoted"] else "not promoted"
            console.print(
                f"Registered: {reg['name']} version {reg['version']} ({reg['estimator']}), {verdict} — "
                + "; ".join(gate["reasons"])
            )
        if training.get("serving"):
            console.print(f"Serving: {training['serving']}")
    if scoring:
        console.print(
            f"Decisions: {scoring['decisions']:,} customers — "
            + scoring.get("in_plain_words", f"{scoring['messages_sent']:,} messages")
            + f"; explored {scoring['explored_share']:.1%}"
        )
        console.print(
            "Per channel: "
            + ", ".join(f"{k} {v:,}" for k, v in scoring["per_channel"].items())
            + "; per local send hour: "
            + ", ".join(f"{k}h {v:,}" for k, v in scoring["per_hour"].items())
        )
        value, holdout = scoring.get("estimated_policy_value"), scoring.get("estimated_holdout_value")
        if value is not None and value == value:
            console.print(
                f"Predicted by the champion (its own scores, no interval): P(convert) {value:.4f} with the chosen "
                f"messages vs {holdout:.4f} sending nothing, over the scored customers"
            )
        if scoring.get("campaign_budget"):
            console.print(
                f"Campaign budget {scoring['campaign_budget']['budget']:,} per campaign: "
                f"allocated {scoring['campaign_budget']['allocated_per_campaign']}"
            )
        if scoring.get("segments"):
            sizes = ", ".join(f"{p['segment']}: {p['size']:,}" for p in scoring["segments"]["profiles"])
            console.print(f"Customer segments (k={scoring['segments']['k']}): {sizes}")
        if scoring.get("report_path"):
            console.print(f"Decisions report: {scoring['report_path']}")
    if monitoring:
        status = "[red]BREACHED[/]" if monitoring["breached"] else "[green]no drift alarm[/]"
        worst = ", ".join(f"{name} {value:.3f}" for name, value in monitoring["worst_features"][:3])
        drifted = ", ".join(monitoring.get("drifted_features", [])) or "none"
        console.print(
            f"Drift: {status}; drifted share {monitoring['drifted_share']:.1%} ({drifted}); "
            f"worst: {worst}; report {monitoring['report_path']}"
        )
        performance = monitoring.get("performance") or {}
        if performance:
            overall = performance.get("overall") or {}
            figures = ", ".join(f"{k} {v:.3f}" for k, v in overall.items() if k in ("auc", "ece", "realised_uplift"))
            console.print(f"Realised performance: {performance.get('message', '')}{'; ' + figures if figures else ''}")
        fairness = monitoring.get("fairness") or {}
        if fairness:
            gaps = ", ".join(f"{k} {v:.2f}" for k, v in (fairness.get("dp_difference") or {}).items())
            verdict = "; ".join(fairness.get("breaches") or []) or "no breach"
            console.print(f"Fairness (targeting parity gaps): {gaps or 'n/a'} — {verdict}")
        alerts = monitoring.get("alerts_sent")
        if alerts is not None:
            console.print(f"Alerts: {'sent to ' + ', '.join(alerts) if alerts else 'none sent'}")
        lift = monitoring.get("realised_lift")
        if lift:
            treated, control = lift["groups"]
            console.print(
                f"Realised lift vs the randomized control: [bold]{lift['lift']}[/] (90% interval; predicted "
                f"{lift['predicted']}): converted {treated['rate']} of {treated['n']:,} sent vs {control['rate']} "
                f"of {control['n']:,} in control"
            )
        if monitoring.get("overview_path"):
            console.print(f"Monitoring overview: {monitoring['overview_path']}")
    console.print(
        f"Open the UIs on this state:  HERALD_HOME={cfg.home} make up   (Airflow http://127.0.0.1:8080 with the "
        "Herald view, MLflow http://127.0.0.1:5000);  make down  stops them"
    )
    console.print(f"Everything the demo wrote lies under {cfg.home}")
