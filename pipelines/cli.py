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


DateOption = Annotated[
    datetime | None,
    typer.Option(
        "--date",
        help="the run's date (YYYY-MM-DD, 00:00 UTC): windows, labels and freshness as of then; default now",
        formats=["%Y-%m-%d"],
    ),
]


@app.command()
def run(
    dag_id: Annotated[
        str, typer.Argument(help="herald_training, herald_scoring, herald_monitoring or herald_hillstrom")
    ],
    date: DateOption = None,
) -> None:
    """Run one DAG through Airflow (``airflow dags test``), for now or for ``--date``; checks the contract first."""
    from pipelines.flows.runner import migrate

    cfg = load_config()
    day = date.date() if date else None
    _precheck(cfg, dag_id, date)
    migrate(cfg)
    _run_step(cfg, "running", dag_id, logical_date=day)
    suffix = f"-{day.isoformat()}" if day else ""
    console.print(
        f"whole-run log: {cfg.reports_dir / 'airflow' / f'{dag_id}{suffix}.log'}; each task's log is in the Airflow UI"
    )


@app.command()
def backfill(
    dag_id: Annotated[
        str, typer.Argument(help="herald_training (weekly), herald_scoring or herald_monitoring (daily)")
    ],
    start: Annotated[datetime, typer.Option(help="first date (YYYY-MM-DD)", formats=["%Y-%m-%d"])],
    end: Annotated[datetime, typer.Option(help="last date (YYYY-MM-DD), inclusive", formats=["%Y-%m-%d"])],
) -> None:
    """Run a DAG for every end of its schedule's interval in [start, end], oldest first, stopping at a failure.

    Each date is one ``airflow dags test DAG DATE`` (Airflow's own ``airflow backfill create`` hands
    the runs to a scheduler, which the embedded setup does not run).
    """
    from pipelines.flows.runner import backfill_dates, migrate

    cfg = load_config()
    dates = backfill_dates(dag_id, start.date(), end.date())
    console.print(f"{dag_id}: {len(dates)} run(s), {dates[0]} … {dates[-1]}")
    migrate(cfg)
    for day in dates:
        _precheck(cfg, dag_id, datetime(day.year, day.month, day.day, tzinfo=UTC))
        _run_step(cfg, "running", dag_id, logical_date=day)


def _precheck(cfg: HeraldConfig, dag_id: str, date: datetime | None) -> None:
    """`herald check` for the DAG's purpose, in seconds, before Airflow's minutes of start-up."""
    from pipelines.flows.runner import PURPOSES
    from pipelines.warehouse.check import ContractError, check_warehouse

    if dag_id not in PURPOSES:
        return
    when = date.replace(tzinfo=UTC) if date and date.tzinfo is None else (date or datetime.now(UTC))
    faults = [f for f in check_warehouse(cfg, when, (PURPOSES[dag_id],)) if f.blocking]
    if faults:
        where = str(cfg.duckdb_path) if cfg.warehouse_backend == "duckdb" else f"BigQuery {cfg.bigquery_project}"
        raise ContractError(faults, f"{where}, dataset {cfg.dataset}, as of {when.date()}")


@app.command()
def check(
    date: DateOption = None,
    purpose: Annotated[str | None, typer.Option(help="training, scoring or monitoring; default all three")] = None,
) -> None:
    """Check the warehouse against the data contract and print every fault with its fix (exit 1 on any)."""
    from pipelines.warehouse.check import PURPOSES, check_warehouse

    if purpose is not None and purpose not in PURPOSES:
        raise HeraldError(f"unknown --purpose {purpose!r}: use {', '.join(PURPOSES)}")
    cfg = load_config()
    when = date.replace(tzinfo=UTC) if date else datetime.now(UTC)
    started = time.monotonic()
    faults = check_warehouse(cfg, when, (purpose,) if purpose else PURPOSES)
    where = str(cfg.duckdb_path) if cfg.warehouse_backend == "duckdb" else f"BigQuery {cfg.bigquery_project}"
    if not faults:
        console.print(
            f"[green]the warehouse meets the data contract[/] ({where}, dataset {cfg.dataset}, as of {when.date()}; "
            f"{time.monotonic() - started:.1f} s)"
        )
        return
    console.print(
        f"[red]{len(faults)} contract fault{'s' * (len(faults) != 1)}[/] in {where}, dataset {cfg.dataset}, "
        f"as of {when.date()} ({time.monotonic() - started:.1f} s):",
        highlight=False,
    )
    for fault in faults:
        stop = "" if fault.blocking else " [dim](rows the validation gate quarantines)[/]"
        console.print(f"  • {fault.line()}{stop}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command("import")
def import_(
    mapping: Annotated[str, typer.Option("--mapping", help="a mapping file (YAML), or gerber / hillstrom")],
    source: Annotated[
        list[str] | None, typer.Option(help="NAME=PATH: read source NAME from PATH instead (repeatable)")
    ] = None,
    var: Annotated[list[str] | None, typer.Option(help="NAME=VALUE: set a ${variable} of the mapping")] = None,
    replace: Annotated[bool, typer.Option(help="overwrite tables another mapping or the world wrote")] = False,
) -> None:
    """Load the contract tables from CSV, Parquet, DuckDB, SQLite or BigQuery as a mapping file says."""
    from pipelines.warehouse.imports import import_mapping

    cfg = load_config()
    started = time.monotonic()
    with console.status(f"importing {mapping}…"):
        report = import_mapping(
            cfg, mapping, sources=_pairs(source, "--source"), variables=_pairs(var, "--var"), replace=replace
        )
    console.print(f"mapping {report.mapping} → dataset {report.dataset} in {report.warehouse}:")
    for name, counts in report.tables.items():
        console.print(
            f"  {name}: {counts['rows_in']:,} rows in = {counts['kept']:,} kept + {counts['rejected']:,} rejected"
        )
        for example in report.rejected_examples.get(name, []):
            console.print(f"      rejected {example}", highlight=False, soft_wrap=True)
    for note in report.notes:
        console.print(f"  note: {note}", highlight=False, soft_wrap=True)
    if report.settings_path:
        console.print(f"  settings for this data written to {report.settings_path}: {report.settings}")
    rejected = sum(c["rejected"] for c in report.tables.values())
    if rejected:
        console.print(
            f"  {rejected:,} rejected rows, with reasons, are in {report.dataset}.rejected_rows "
            f"(run_id import:{report.mapping})"
        )
    console.print(
        f"done in {time.monotonic() - started:.0f} s; next: `herald check`, then `herald run herald_training --date …`"
    )


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise HeraldError(f"{option} takes NAME=VALUE, got {value!r}")
        out[name.strip()] = rest
    return out


@app.command("config-reference")
def config_reference(
    write: Annotated[Path | None, typer.Option(help="update the table between the markers in this file")] = None,
) -> None:
    """Print every HERALD_ setting with its default and meaning (the README's table is this output)."""
    from pipelines.config_reference import reference_markdown, write_into

    if write is None:
        print(reference_markdown(), end="")
        return
    changed = write_into(write)
    console.print(f"{write}: configuration reference {'updated' if changed else 'already current'}")


class _Progress:
    """Prints each finished task of a DAG run under its step, and keeps which tasks ran."""

    def __init__(self, status: Any, step: str) -> None:
        self.status, self.step, self.finished = status, step, []

    def __call__(self, event: str) -> None:
        _, task, what = event.split(" ", 2)
        if what == "started":
            self.status.update(f"{self.step}: {task}…")
        else:
            self.finished.append((task, what))
            console.print(f"      {task}: {what.split(' (log', 1)[0].removeprefix('finished: ')}", highlight=False)


def _run_step(
    cfg: HeraldConfig, label: str, dag_id: str, conf: dict[str, Any] | None = None, logical_date: Any = None
) -> _Progress:
    from pipelines.flows.runner import run_dag

    t0 = time.monotonic()
    dated = f" for {logical_date}" if logical_date else ""
    console.print(f"{label} {dag_id}{dated}" + (f" standing at {conf['as_of'][:16]}" if conf else ""))
    with console.status(f"{label} {dag_id}{dated}…") as status:
        progress = _Progress(status, f"{label} {dag_id}{dated}")
        run_dag(cfg, dag_id, logical_date=logical_date, conf=conf, progress=progress)
    console.print(f"{label} {dag_id}: [green]success[/] in {time.monotonic() - t0:.0f} s")
    return progress


@app.command()
def demo(
    size: Annotated[str | None, typer.Option(help="world size: tiny, small or default")] = None,
    fresh: Annotated[bool, typer.Option(help="delete HERALD_HOME first")] = True,
    drift: Annotated[float, typer.Option(help="drift injected into the weeks that pass (0 = none)")] = 1.0,
) -> None:
    """World → training → scoring, then two weeks pass (outcomes, drift) with monitoring after each."""
    from pipelines.flows.runner import migrate
    from pipelines.monitoring.receiver import LocalInbox
    from pipelines.synthetic.advance import advance_world

    # A randomized control group, so the demo can measure realised lift (HERALD_POLICY__CONTROL_SHARE).
    os.environ.setdefault("HERALD_POLICY__CONTROL_SHARE", "0.1")
    if size:
        os.environ["HERALD_WORLD__SIZE"] = size
    cfg = load_config()
    if fresh and cfg.home.exists():
        shutil.rmtree(cfg.home)
        # Settings an earlier import left in HOME/settings.yaml are gone with it; read the config again.
        cfg = load_config()
        if size:
            cfg = cfg.model_copy(update={"world": cfg.world.model_copy(update={"size": size})})
    started = time.monotonic()
    console.rule("Herald demo")
    from pipelines.synthetic import build_world

    with console.status("[1/7] building the synthetic world…"):
        t0 = time.monotonic()
        counts = build_world(cfg)
    console.print(
        "[1/7] world: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + f" ({time.monotonic() - t0:.0f} s)"
    )
    with console.status("preparing Airflow metadata (SQLite)…"):
        migrate(cfg)
    inbox = LocalInbox(cfg.reports_dir / "alerts")
    if not (cfg.alerts.smtp_host or cfg.alerts.webhook_url):  # alerts go to the local receiver
        os.environ.update(
            {
                "HERALD_ALERTS__SMTP_HOST": "127.0.0.1",
                "HERALD_ALERTS__SMTP_PORT": str(inbox.port),
                "HERALD_ALERTS__EMAIL_TO": '["marketing-ops@localhost"]',
            }
        )
    cfg = load_config()
    weeks: list[dict[str, Any]] = []
    with inbox:
        _run_step(cfg, "[2/7]", "herald_training")
        _run_step(cfg, "[3/7]", "herald_scoring")
        start = None
        for week, (label, monitor_label) in enumerate((("[4/7]", "[5/7]"), ("[6/7]", "[7/7]")), start=1):
            with console.status(f"{label} week {week} passes…"):
                t0 = time.monotonic()
                moved = advance_world(cfg, start, drift=drift, deliver=week == 1, seed=week)
            console.print(
                f"{label} week {week} passes: {moved.messages_delivered:,} messages delivered and "
                f"{moved.sends_added - moved.messages_delivered:,} customers left alone"
                f"{f', {moved.conversions:,} conversions' if moved.sends_added else ''}; "
                f"{moved.events_added:,} events (drift {moved.drift}) ({time.monotonic() - t0:.0f} s)"
            )
            ran = _run_step(cfg, monitor_label, "herald_monitoring", conf={"as_of": moved.now})
            weeks.append({"now": moved.now, "tasks": dict(ran.finished)})
            start = pd_timestamp(moved.now)
        received = inbox.messages()
    print_summary(cfg)
    if received:
        for path, to, subject in received:
            console.print(f"Alert e-mail received by the local SMTP receiver for {to}: {subject!r} ({path})")
    else:
        console.print("Alert e-mails: none received (no threshold broke).")
    last = weeks[-1]["tasks"] if weeks else {}
    if "trigger_training" in last and last["trigger_training"].startswith("finished: success"):
        console.print(
            "Retraining: [bold]triggered[/] — the last monitoring runs breached; a herald_training run is queued"
        )
    else:
        console.print("Retraining: not triggered (see the monitoring summary for why)")
    console.print(f"demo finished in {time.monotonic() - started:.0f} s")


def pd_timestamp(text: str) -> Any:
    """An ISO instant as a pandas Timestamp (UTC)."""
    import pandas as pd

    return pd.Timestamp(text)


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
    """What the latest training, scoring and monitoring runs did, in plain words."""
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


HostOption = Annotated[str, typer.Option(help="address to bind; 127.0.0.1 keeps the UIs on this machine")]
ApiOnlyOption = Annotated[
    bool, typer.Option("--api-only", help="Airflow: only the web UI (api-server), no scheduler/dag-processor/triggerer")
]


def _announce(started: Any) -> None:
    console.print(f"{started.name} UI: [bold]{started.url}[/]  ({started.login}); output in {started.log}")
    if started.name == "airflow":
        console.print(f"  Herald view (reports, model card): {started.url}/plugin/herald")


def _start_and_wait(cfg: HeraldConfig, which: str, host: str, port: int | None, api_only: bool) -> Any:
    from pipelines.flows.ui import start_ui, stop_ui, wait_ready

    with console.status(f"starting the {which} UI…"):
        started = start_ui(cfg, which, host, port, api_only)
        if not wait_ready(started.url, timeout_s=600):
            stop_ui(cfg, which)
            raise HeraldError(f"the {which} UI did not answer at {started.url} within 600 s; see {started.log}")
    return started


@app.command()
def ui(
    which: Annotated[str, typer.Argument(help="airflow or mlflow")],
    host: HostOption = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="port (default 8080 for Airflow, 5000 for MLflow)")] = None,
    api_only: ApiOnlyOption = False,
) -> None:
    """Start the Airflow or MLflow UI on the demo's state (HERALD_HOME) until Ctrl-C, then stop all it started."""
    from pipelines.flows.ui import UIS, read_ui, stop_ui

    if which not in UIS:
        raise HeraldError(f"unknown UI {which!r}: use airflow or mlflow")
    cfg = load_config()
    started = _start_and_wait(cfg, which, host, port, api_only)
    _announce(started)
    console.print("Ctrl-C stops it.")
    try:
        while read_ui(cfg, which) is not None:
            time.sleep(1.0)
        console.print(f"[red]the {which} UI stopped by itself[/]; see {started.log}")
    except KeyboardInterrupt:
        pass
    finally:
        stop_ui(cfg, which)
        console.print(f"{which} UI stopped (process group {started.pgid}).")


@app.command()
def up(
    host: HostOption = "127.0.0.1",
    airflow_port: Annotated[int, typer.Option(help="Airflow UI port")] = 8080,
    mlflow_port: Annotated[int, typer.Option(help="MLflow UI port")] = 5000,
    api_only: ApiOnlyOption = False,
) -> None:
    """Start both UIs in the background on the demo's state; `herald down` stops them."""
    cfg = load_config()
    os.environ.setdefault("HERALD_MLFLOW_UI_URL", f"http://{host}:{mlflow_port}")
    for which, port in (("mlflow", mlflow_port), ("airflow", airflow_port)):
        _announce(_start_and_wait(cfg, which, host, port, api_only))
    console.print("Stop both with: herald down  (or make down)")


@app.command()
def down() -> None:
    """Stop every UI process `herald up` / `herald ui` started from this HERALD_HOME."""
    from pipelines.flows.ui import UIS, stop_ui

    cfg = load_config()
    for which in UIS:
        stopped = stop_ui(cfg, which)
        console.print(
            f"{which} UI: stopped (process group {stopped.pgid}, {stopped.url})"
            if stopped
            else f"{which} UI: not running"
        )


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
    """The ``herald`` entry point: Herald's errors end in one red line, not a traceback."""
    try:
        code = app(standalone_mode=False)
        # Without standalone mode click returns typer.Exit's code instead of exiting with it.
        if isinstance(code, int) and code:
            sys.exit(code)
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
