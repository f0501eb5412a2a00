"""Load the reviewed suites in ``expectations/`` and run them with Great Expectations 1.x on a dataframe.

The JSON files hold every static rule; values known only at run time are GX suite parameters
(``{"$PARAMETER": name}``) filled by :func:`suite_parameters`. Column types are checked in code
(see :mod:`pipelines.validation.types`) because GX 1.24's pandas type-list matching does not
recognise the extension dtypes the warehouse clients return (tz-aware timestamps, Int64, boolean).
"""

from __future__ import annotations

import functools
import json
import os
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from pipelines.config import REPO_ROOT, HeraldConfig
from pipelines.validation.results import SAMPLE_SIZE, RuleResult
from pipelines.warehouse.contract import HOLDOUT_CHANNEL

SUITES_DIR = REPO_ROOT / "expectations"
DATASOURCE = "herald_extract"

# GX would otherwise phone home with usage statistics on import; a pipeline has no business doing so.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@functools.cache
def load_suite(table: str) -> dict[str, Any]:
    """The suite of ``table`` as stored in ``expectations/<table>.json``."""
    path = SUITES_DIR / f"{table}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no expectation suite for table {table}: {path} is missing")
    return json.loads(path.read_text())


def suite_parameters(cfg: HeraldConfig, windows: dict[str, str], now: datetime | None = None) -> dict[str, Any]:
    """Values of the ``$PARAMETER`` placeholders: configured channels and the run's time bounds."""
    as_of = _utc(windows["as_of"])
    now_ts = pd.Timestamp(now or datetime.now(UTC))
    now_ts = now_ts.tz_localize("UTC") if now_ts.tzinfo is None else now_ts.tz_convert("UTC")
    return {
        "channels": [*cfg.channels, HOLDOUT_CHANNEL],
        "as_of": as_of,
        "events_from": _utc(windows["events_from"]),
        "sends_from": _utc(windows["sends_from"]),
        # Customers are a snapshot, not windowed by as_of: a backfill may see later updates legitimately.
        "snapshot_now": max(now_ts, as_of) + pd.Timedelta(hours=1),
        # Nobody younger than 13 holds an account.
        "birth_year_max": as_of.year - 13,
    }


def _utc(value: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@functools.lru_cache(maxsize=1)
def _context() -> Any:
    """One ephemeral GX context per process: importing and building it is the slow part."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.data_sources.add_pandas(DATASOURCE)
    return context


@functools.cache
def _batch_definition(table: str) -> Any:
    datasource = _context().data_sources.get(DATASOURCE)
    return datasource.add_dataframe_asset(name=table).add_batch_definition_whole_dataframe("whole")


def run_suite(
    table: str,
    frame: pd.DataFrame,
    parameters: dict[str, Any],
    levels: set[str],
    skip_columns: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[RuleResult]:
    """Validate ``frame`` (positionally indexed) against the suite's expectations of the given levels.

    Expectations on ``skip_columns`` (missing or wrongly typed) are reported as skipped rather
    than run, since GX would only raise on them and the structural failure already names the column.
    """
    import great_expectations as gx

    spec = load_suite(table)
    chosen: list[dict[str, Any]] = []
    skipped: list[RuleResult] = []
    for exp in spec["expectations"]:
        meta = exp.get("meta", {})
        if meta.get("level") not in levels:
            continue
        column = _column(exp["kwargs"])
        used = {exp["kwargs"].get(k) for k in ("column", "column_A", "column_B")} - {None}
        if used & set(skip_columns) and exp["type"] != "expect_column_to_exist":
            skipped.append(
                RuleResult(
                    table,
                    meta["rule"],
                    exp["type"],
                    meta["level"],
                    True,
                    column,
                    outcome="skipped",
                    note="column missing or of the wrong type",
                )
            )
            continue
        chosen.append(exp)
    if not chosen:
        return skipped
    suite = gx.ExpectationSuite(name=f"{table}-{'-'.join(sorted(levels))}", expectations=chosen)
    batch = _batch_definition(table).get_batch(batch_parameters={"dataframe": frame})
    used = {k: v for k, v in parameters.items() if _uses(chosen, k)}
    outcome = batch.validate(suite, result_format={"result_format": "COMPLETE"}, expectation_parameters=used)
    return skipped + [_to_rule(table, r, len(frame)) for r in outcome.results]


def _column(kwargs: Any) -> str | None:
    """The column a rule is reported under: its column, or the first of a column pair."""
    return kwargs.get("column") or kwargs.get("column_A")


def _uses(expectations: list[dict[str, Any]], name: str) -> bool:
    return any(isinstance(v, dict) and v.get("$PARAMETER") == name for e in expectations for v in e["kwargs"].values())


def _to_rule(table: str, gx_result: Any, n_rows: int) -> RuleResult:
    """Translate one GX ExpectationValidationResult into a RuleResult."""
    config = gx_result.expectation_config
    meta = config.meta or {}
    result = gx_result.result or {}
    info = gx_result.exception_info or {}
    raised = (
        bool(info.get("raised_exception"))
        if "raised_exception" in info
        else any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())
    )
    positions = result.get("unexpected_index_list")
    rule = RuleResult(
        table=table,
        rule=meta.get("rule", config.type),
        expectation=config.type,
        level=meta.get("level", "table"),
        success=bool(gx_result.success),
        column=_column(config.kwargs),
        unexpected_count=int(result.get("unexpected_count") or 0),
        element_count=int(result.get("element_count") or n_rows),
        sample=list(result.get("partial_unexpected_list") or [])[:SAMPLE_SIZE],
        observed=result.get("observed_value"),
    )
    if raised:
        # A rule GX could not evaluate is a failure of the table, never a silent pass.
        rule.success, rule.level = False, "structure"
        rule.note = "could not be evaluated: " + _exception_message(info)
    if positions is not None and not raised:
        import numpy as np

        rule.positions = np.asarray(positions, dtype=np.int64)
    return rule


def _exception_message(info: dict[str, Any]) -> str:
    if "exception_message" in info:
        return str(info.get("exception_message"))[:200]
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return str(value["exception_message"])[:200]
    return "unknown error"
