"""``herald champion``, ``explain-decision`` and ``forget``: what served, why a decision, erasure."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated

import typer

from pipelines.cli.common import app, console
from pipelines.config import load_config


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
    from pipelines.warehouse.forget import forget_customers, forget_summary

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
