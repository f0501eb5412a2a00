"""``herald ui``, ``up`` and ``down``: the Airflow and MLflow UIs on the demo's state."""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

import typer

from pipelines.cli.common import app, console
from pipelines.config import HeraldConfig, load_config
from pipelines.errors import HeraldError

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
