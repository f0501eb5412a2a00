"""One result format for every rule, whether Great Expectations or pandas checked it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Level = Literal["structure", "table", "row"]
Outcome = Literal["passed", "failed", "quarantined", "skipped"]

SAMPLE_SIZE = 5


@dataclass
class RuleResult:
    """The outcome of one rule on one table; ``positions`` are the offending row positions (row rules)."""

    table: str
    rule: str
    expectation: str
    level: Level
    success: bool
    column: str | None = None
    source: Literal["great_expectations", "pandas"] = "great_expectations"
    unexpected_count: int = 0
    element_count: int = 0
    sample: list[Any] = field(default_factory=list)
    observed: Any = None
    note: str = ""
    outcome: Outcome = "passed"
    positions: np.ndarray | None = field(default=None, repr=False)

    def shown_sample(self) -> list[Any]:
        """Sample values fit for reports and logs: none from columns that identify or quote a person."""
        if self.column in PERSONAL_COLUMNS:
            return []
        return [json_safe(v) for v in self.sample[:SAMPLE_SIZE]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view (positions are summarised by ``unexpected_count``)."""
        return {
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "expectation": self.expectation,
            "source": self.source,
            "level": self.level,
            "success": self.success,
            "outcome": self.outcome,
            "unexpected_count": self.unexpected_count,
            "element_count": self.element_count,
            "sample": self.shown_sample(),
            "observed": json_safe(self.observed),
            "note": self.note,
        }

    def line(self) -> str:
        """One short line for the exception message."""
        where = f"{self.table}.{self.column}" if self.column else self.table
        text = f"{where}: {self.expectation} ({self.rule})"
        if self.unexpected_count:
            text += f" broken by {self.unexpected_count} of {self.element_count} rows"
        if self.shown_sample():
            text += f", e.g. {self.shown_sample()[:3]}"
        elif self.sample:
            text += " (values not shown: personal data; the rows are in rejected_rows)"
        if self.observed is not None and not self.sample:
            text += f", observed {json_safe(self.observed)}"
        if self.note:
            text += f" — {self.note}"
        return text


# Reports and MLflow are shared widely: values of these columns (ids of people, their words and
# behaviour) are never quoted there; rejected_rows keeps the rows, and `herald forget` erases them.
PERSONAL_COLUMNS = frozenset({"customer_id", "text", "rev_text", "evt_sequence"})


def json_safe(value: Any) -> Any:
    """Turn numpy/pandas scalars, timestamps and NaN into plain JSON values."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)
