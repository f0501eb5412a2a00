"""``herald world``, ``import``, ``check`` and ``config-reference``: getting data into the contract."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.common import DateOption, app, console
from pipelines.config import load_config
from pipelines.errors import HeraldError


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
    from pipelines.cli.config_reference import reference_markdown, write_into

    if write is None:
        print(reference_markdown(), end="")
        return
    changed = write_into(write)
    console.print(f"{write}: configuration reference {'updated' if changed else 'already current'}")
