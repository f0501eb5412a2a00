"""``herald run``, ``backfill`` and ``demo``: the DAGs through the local Airflow, with progress."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from pipelines.cli.common import DateOption, app, console, pd_timestamp
from pipelines.cli.summary import print_summary
from pipelines.config import HeraldConfig, load_config


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
            outcome = (
                f"{moved.messages_delivered:,} messages delivered and "
                f"{moved.sends_added - moved.messages_delivered:,} customers left alone, "
                f"{moved.conversions:,} conversions"
                if moved.sends_added
                else "no decisions to deliver (the demo scores once, for week 1)"
            )
            console.print(
                f"{label} week {week} passes: {outcome}; "
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
