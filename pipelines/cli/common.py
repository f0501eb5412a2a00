"""What every ``herald`` command shares: the Typer app, the console and common options."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, help="Herald: next best message, end to end, on Airflow and MLflow.")
console = Console()


DateOption = Annotated[
    datetime | None,
    typer.Option(
        "--date",
        help="the run's date (YYYY-MM-DD, 00:00 UTC): windows, labels and freshness as of then; default now",
        formats=["%Y-%m-%d"],
    ),
]


def pd_timestamp(text: str) -> Any:
    """An ISO instant as a pandas Timestamp (UTC)."""
    import pandas as pd

    return pd.Timestamp(text)
