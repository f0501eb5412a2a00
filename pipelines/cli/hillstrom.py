"""``herald hillstrom import|run``: the Hillstrom e-mail experiment as real data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.common import app, console
from pipelines.config import load_config
from pipelines.errors import HeraldError

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
    from pipelines.warehouse.hillstrom.importer import hillstrom_config, import_file

    if target not in (None, "visit", "conversion"):
        raise HeraldError(f"unknown --target {target!r}: use visit or conversion")
    cfg = hillstrom_config(load_config())
    result = import_file(cfg, path, target)  # type: ignore[arg-type]
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
