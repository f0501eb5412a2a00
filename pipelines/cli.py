"""The ``herald`` command: build the synthetic world, run the DAGs, print the demo summary."""

from __future__ import annotations

import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.table import Table

from pipelines.config import HeraldConfig, load_config
from pipelines.errors import HeraldError

app = typer.Typer(add_completion=False, help="Herald: next best message, end to end, on Airflow and MLflow.")
console = Console()


def _config(**overrides: Any) -> HeraldConfig:
    return load_config(**{k: v for k, v in overrides.items() if v is not None})


@app.command()
def world(
    size: Annotated[str | None, typer.Option(help="tiny, small or default (HERALD_WORLD__SIZE)")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed of the world")] = None,
    drift: Annotated[float | None, typer.Option(help="drift injected into the most recent period (0 = none)")] = None,
    bias: Annotated[float | None, typer.Option(help="bias against one protected group (0 = none)")] = None,
) -> None:
    """Build the synthetic marketing world into the embedded warehouse (replaces its tables)."""
    cfg = load_config()
    world_settings = cfg.world.model_copy(
        update={k: v for k, v in {"size": size, "seed": seed, "drift": drift, "bias": bias}.items() if v is not None}
    )
    from pipelines.synthetic import build_world

    counts = build_world(cfg.model_copy(update={"world": world_settings}))
    console.print(
        f"world ({world_settings.size}, seed {world_settings.seed}) written to {cfg.duckdb_path}: "
        + ", ".join(f"{k} {v:,}" for k, v in counts.items())
    )


@app.command()
def run(
    dag_id: Annotated[
        str, typer.Argument(help="herald_training, herald_scoring, herald_monitoring or herald_hillstrom")
    ],
) -> None:
    """Run one DAG now through Airflow (``airflow dags test``) on the local metadata database."""
    from pipelines.flows.runner import migrate, run_dag

    cfg = load_config()
    migrate(cfg)
    started = time.monotonic()
    with console.status(f"running {dag_id} through Airflow…"):
        log = run_dag(cfg, dag_id)
    console.print(f"[green]{dag_id} succeeded[/] in {time.monotonic() - started:.0f} s (log: {log})")


@app.command()
def demo(
    size: Annotated[str | None, typer.Option(help="world size: tiny, small or default")] = None,
    fresh: Annotated[bool, typer.Option(help="delete HERALD_HOME first")] = True,
) -> None:
    """Build the world, run training, scoring and monitoring through Airflow, print the summary."""
    from pipelines.flows.runner import DAG_IDS, migrate, run_dag

    cfg = load_config()
    if size:
        cfg = cfg.model_copy(update={"world": cfg.world.model_copy(update={"size": size})})
        os.environ["HERALD_WORLD__SIZE"] = size
    if fresh and cfg.home.exists():
        shutil.rmtree(cfg.home)
    started = time.monotonic()
    console.rule("Herald demo")
    from pipelines.synthetic import build_world

    counts = build_world(cfg)
    console.print("[1/4] world: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    with console.status("preparing Airflow metadata (SQLite)…"):
        migrate(cfg)
    for step, dag_id in enumerate(DAG_IDS, start=2):
        t0 = time.monotonic()
        with console.status(f"[{step}/4] running {dag_id} through Airflow…"):
            run_dag(cfg, dag_id)
        console.print(f"[{step}/4] {dag_id}: [green]success[/] in {time.monotonic() - t0:.0f} s")
    print_summary(cfg)
    console.print(f"demo finished in {time.monotonic() - started:.0f} s")


@app.command()
def champion(
    at: Annotated[
        datetime | None,
        typer.Option(
            help="an instant (UTC unless it has an offset), e.g. 2026-11-01 or 2026-11-01T09:00:00+00:00; default now",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
        ),
    ] = None,
) -> None:
    """Say which model version was champion (serving) at an instant, and why it was promoted."""
    from pipelines.training.registry import champion_at

    when = at or datetime.now(UTC)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    found = champion_at(load_config(), when)
    if found is None:
        console.print(f"No champion at {when.isoformat()}: no promotion had been decided by then.")
        raise typer.Exit(1)
    console.print(
        f"At {when.isoformat()} the champion was {found['model_name']} version {found['version']}, "
        f"promoted {found['decided_at']} by training run {found['run_id']}: "
        f"{found['reason']}"
    )


@app.command()
def forget(
    customer_ids: Annotated[list[str], typer.Argument(help="ids of the customers to forget")],
    request_id: Annotated[
        str | None, typer.Option(help="the data-subject request's reference (default: generated)")
    ] = None,
) -> None:
    """Forget customers: suppress them in every later extract and erase them from everything Herald wrote."""
    from pipelines.privacy.forget import forget_customers, forget_summary

    result = forget_customers(load_config(), customer_ids, request_id, actor=os.environ.get("USER"))
    console.print(forget_summary(result), highlight=False, soft_wrap=True)
    console.print(
        "The source tables (customers, events, sends, reviews) are the warehouse owner's to delete: "
        'see README "Privacy".'
    )
    if result.traces:
        raise typer.Exit(1)


@app.command("explain-decision")
def explain_decision(
    day: Annotated[
        datetime, typer.Argument(help="the scoring run's logical date, e.g. 2026-11-01", formats=["%Y-%m-%d"])
    ],
    customer_id: Annotated[str, typer.Argument(help="the customer whose decision to explain")],
) -> None:
    """Say which model, validation, policy settings, rules and candidates produced a customer's decision."""
    from pipelines.scoring.explain import explain_decision as explain
    from pipelines.scoring.explain import render_explanation

    console.print(render_explanation(explain(load_config(), day.date(), customer_id)), highlight=False, soft_wrap=True)


@app.command()
def summary() -> None:
    """Print what the latest runs did."""
    print_summary(load_config())


def print_summary(cfg: HeraldConfig) -> None:
    from pipelines.flows.summary import read_run_summary

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
                    f"{metrics.get('test_' + k, float('nan')):.4f}"
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
    if scoring:
        console.print(
            f"Decisions written: {scoring['decisions']:,} ({scoring['messages_sent']:,} messages, "
            f"hold-out share {scoring['holdout_share']:.1%}, explored {scoring['explored_share']:.1%}); "
            f"per channel {scoring['per_channel']}; per hour {scoring['per_hour']}; "
            f"reasons {scoring['reasons']}"
        )
        value, holdout = scoring.get("estimated_policy_value"), scoring.get("estimated_holdout_value")
        if value is not None and value == value:
            console.print(
                f"Estimated policy value (model, scored customers): P(convert) {value:.4f} "
                f"vs {holdout:.4f} sending nothing"
            )
        if scoring.get("campaign_budget"):
            console.print(
                f"Campaign budget {scoring['campaign_budget']['budget']:,} per campaign: "
                f"allocated {scoring['campaign_budget']['allocated_per_campaign']}"
            )
        if scoring.get("segments"):
            sizes = ", ".join(f"{p['segment']}: {p['size']:,}" for p in scoring["segments"]["profiles"])
            console.print(f"Customer segments (k={scoring['segments']['k']}): {sizes}")
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
    console.print("Open the UIs:  make ui-mlflow  (http://127.0.0.1:5000)   make ui-airflow  (http://127.0.0.1:8080)")
    console.print(f"Everything the demo wrote lies under {cfg.home}")


@app.command()
def ui(which: Annotated[str, typer.Argument(help="mlflow or airflow")]) -> None:
    """Start the MLflow or Airflow UI on the demo's local state."""
    from pipelines.flows.runner import airflow_bin, airflow_env

    cfg = load_config()
    if which == "mlflow":
        cmd = [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--backend-store-uri",
            cfg.tracking_uri,
            "--default-artifact-root",
            cfg.artifact_root,
            "--host",
            "127.0.0.1",
            "--port",
            "5000",
        ]
        os.execvp(cmd[0], cmd)
    elif which == "airflow":
        os.execvpe(airflow_bin(), [airflow_bin(), "standalone"], airflow_env(cfg))
    raise HeraldError(f"unknown UI {which!r}: use mlflow or airflow")


hillstrom_app = typer.Typer(add_completion=False, help="The Hillstrom e-mail experiment: Herald on real data.")
app.add_typer(hillstrom_app, name="hillstrom")


@hillstrom_app.command("import")
def hillstrom_import(
    path: Annotated[Path | None, typer.Option(help="the Hillstrom CSV (HERALD_HILLSTROM__PATH)")] = None,
    target: Annotated[
        str | None, typer.Option(help="outcome written into sends.converted: visit or conversion")
    ] = None,
) -> None:
    """Validate the Hillstrom CSV and write customers, messages and sends into the hillstrom dataset."""
    from pipelines.warehouse.hillstrom.importer import hillstrom_config, import_hillstrom

    if target not in (None, "visit", "conversion"):
        raise HeraldError(f"unknown --target {target!r}: use visit or conversion")
    cfg = hillstrom_config(load_config())
    result = import_hillstrom(cfg, path, target)  # type: ignore[arg-type]
    console.print(
        f"Hillstrom ({result.target} → sends.converted) written to dataset {result.dataset}: "
        + ", ".join(f"{k} {v:,}" for k, v in result.rows.items())
        + f"; arms {result.arms}; campaign {result.campaign_start[:10]} – {result.campaign_end[:10]}"
    )


@hillstrom_app.command("run")
def hillstrom_run(
    path: Annotated[Path | None, typer.Option(help="the Hillstrom CSV (HERALD_HILLSTROM__PATH)")] = None,
    target: Annotated[str | None, typer.Option(help="visit (default) or conversion")] = None,
    deep: Annotated[bool, typer.Option(help="also train the deep model (HERALD_DEEP__ENABLED)")] = True,
) -> None:
    """Import, train with the generic code, value every policy on held-out customers, print the table."""
    from pipelines.policy.experiment import run_experiment
    from pipelines.policy.experiment_report import policy_table

    if target not in (None, "visit", "conversion"):
        raise HeraldError(f"unknown --target {target!r}: use visit or conversion")
    cfg = load_config()
    started = time.monotonic()
    with console.status("Hillstrom: import → train → evaluate…") as status:
        result = run_experiment(
            cfg,
            path,
            target,
            deep=deep and cfg.deep.enabled,  # type: ignore[arg-type]
            progress=lambda m: status.update(f"Hillstrom: {m}"),
        )
    conf = f"{result['confidence']:.0%}"
    table = Table(title=f"Hillstrom: {result['target']} rate on {result['split_counts']['test']:,} held-out customers")
    table.add_column("policy", no_wrap=True)
    for header in ("IPS", f"IPS {conf} CI", "DR", f"DR {conf} CI", "deployed"):
        table.add_column(header)
    for row in policy_table(result).itertuples(index=False):
        table.add_row(
            row.policy,
            f"{row.ips:.2%}",
            f"{row.ips_ci_low:.2%} – {row.ips_ci_high:.2%}",
            f"{row.dr:.2%}",
            f"{row.dr_ci_low:.2%} – {row.dr_ci_high:.2%}",
            row.deployed,
        )
    console.print(table)
    best = result["best_single_arm"]
    console.print(f"Best single arm: {best['name']} at {best['visit_rate']:.2%}")
    for model, decision in result["safe_policy"].items():
        console.print(f"Safe policy ({model}): {decision['reason']}")
    console.print(
        f"MLflow run {result['mlflow_run_id']} in experiment herald-hillstrom; "
        f"finished in {time.monotonic() - started:.0f} s"
    )


def main() -> None:
    try:
        app(standalone_mode=False)
    except HeraldError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
