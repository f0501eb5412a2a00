"""Row accounting: every step that filters says where each input row went, and the counts must add up.

An entry is one (step, table): ``rows_in`` rows came in and each was ``kept``, ``rejected`` (a
broken rule, recorded in ``rejected_rows``) or ``out_of_scope`` (outside the run's window, or a
message not active on the run's date — legitimately not this run's). ``check`` raises when
``rows_in != kept + rejected + out_of_scope``; ``write_metrics`` puts the counts into
``monitoring_metrics`` (kind ``row_accounting``) so a dashboard sees them beside drift and fairness.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.errors import RowAccountingError

KIND = "row_accounting"
COUNTS = ("rows_in", "kept", "rejected", "out_of_scope")


@dataclass(frozen=True)
class RowCount:
    """Where the rows of one table went in one step (all counts are rows)."""

    step: str
    table: str
    rows_in: int
    kept: int
    rejected: int = 0
    out_of_scope: int = 0
    note: str = ""

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.kept + self.rejected + self.out_of_scope

    def line(self) -> str:
        """``sends @ extract: 4000 in = 3996 kept + 4 rejected + 0 out of scope``."""
        return (
            f"{self.table} @ {self.step}: {self.rows_in} in = {self.kept} kept + {self.rejected} rejected"
            f" + {self.out_of_scope} out of scope" + (f" ({self.note})" if self.note else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(entries: list[RowCount]) -> list[RowCount]:
    """Assert rows in = kept + rejected + out of scope for every entry; return the entries.

    Raises RowAccountingError naming each unbalanced step and table: rows were lost or doubled.
    """
    bad = [e for e in entries if not e.balanced]
    if bad:
        raise RowAccountingError(
            "row accounting does not balance — rows were lost or doubled:\n  "
            + "\n  ".join(e.line() for e in bad)
            + "\nif the source tables changed while the run read them, re-run it"
        )
    return entries


def metric_rows(run_id: str, entries: list[RowCount], step: str) -> pd.DataFrame:
    """The ``monitoring_metrics`` rows of one step: one per table and count; ``breached`` marks rejections."""
    now = pd.Timestamp(datetime.now(UTC))
    rows = [
        {
            "run_id": run_id,
            "computed_at": now,
            "kind": KIND,
            "subject": step,
            "metric": f"{e.table}.{count}",
            "value": float(getattr(e, count)),
            "threshold": float("nan"),
            # A rejected row is worth a look even when the gate let the run go on.
            "breached": bool(count == "rejected" and e.rejected > 0),
        }
        for e in entries
        for count in COUNTS
    ]
    return pd.DataFrame(rows)


def write_metrics(cfg: HeraldConfig, run_id: str, step: str, entries: list[RowCount]) -> int:
    """Replace this run's ``row_accounting`` metrics of ``step`` in ``monitoring_metrics``."""
    from pipelines.warehouse import get_warehouse

    if not entries:
        return 0
    with get_warehouse(cfg) as warehouse:
        return warehouse.write(
            "monitoring_metrics",
            metric_rows(run_id, entries, step),
            mode="replace_run",
            run_filter={"run_id": run_id, "kind": KIND, "subject": step},
        )
