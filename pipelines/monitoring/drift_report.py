"""Compare two windows: drift tests per column, the report (windows, sizes, ranked summary first), metric rows."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import pandas as pd

from pipelines.config import HeraldConfig, MonitoringSettings
from pipelines.monitoring.drift_stats import DriftResult, _safe, drift_columns, effect_sizes, feature_source
from pipelines.monitoring.drift_tests import ColumnTest, drift_tests, drifted_columns
from pipelines.tracking import connect
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import MONITORING_METRICS


def compute_drift(
    cfg: HeraldConfig,
    run_id: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    reference_predictions: pd.DataFrame | None,
    current_predictions: pd.DataFrame | None,
    mlflow_run_id: str | None = None,
    embeddings: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    notes: list[str] | None = None,
    windows: dict[str, str] | None = None,
    no_predictions_reason: str = "the champion has no scoring run to compare yet",
) -> DriftResult:
    """Per-column drift by calibrated tests (pipelines/monitoring/drift_tests.py); report, MLflow, metric rows.

    ``windows`` names what is compared ("reference": e.g. "training features as of …", "current",
    and the same for predictions); the report opens with them, their sizes and a ranked summary.
    Two windows that are the same, or two identical frames, are never compared: the result is
    ``skipped`` with the reason and nothing is breached or written. ``embeddings`` are extra
    (reference, current) columns, e.g. principal components of the deep model's embeddings;
    ``*_predictions`` are frames from :func:`prediction_frame`; without both, the report says
    ``no_predictions_reason``.
    """
    settings = cfg.monitoring
    notes = list(notes or [])
    windows = dict(windows or {"reference": "reference frame", "current": "current frame"})
    report_dir = cfg.reports_dir / "drift"
    report_dir.mkdir(parents=True, exist_ok=True)
    report_path = report_dir / f"{_safe(run_id)}.html"
    columns = drift_columns(reference, current)
    same = same_window(windows, reference[columns], current[columns])
    sizes = {"reference": len(reference), "current": len(current)}
    if same:
        write_report(report_path, None, windows, sizes, [], [f"skipped: {same}", *notes], settings)
        return DriftResult(str(report_path), 0.0, [], [], None, False, 0, notes=notes, windows=windows, skipped=same)
    ref, cur = reference[columns].reset_index(drop=True), current[columns].reset_index(drop=True)
    if embeddings is not None:
        # Embedding components have their own row counts only when the populations differ in size.
        ref = pd.concat([ref, embeddings[0].reset_index(drop=True)], axis=1)
        cur = pd.concat([cur, embeddings[1].reset_index(drop=True)], axis=1)
    tests, test_notes = _run_tests(settings, ref, cur)
    notes += test_notes
    snapshot = effect_sizes(settings, _judgeable(ref), _judgeable(cur)).snapshot if len(ref.columns) else None

    pred_tests: list[ColumnTest] = []
    has_predictions = (
        reference_predictions is not None
        and current_predictions is not None
        and len(current_predictions)
        and len(reference_predictions)
    )
    if has_predictions:
        pred_tests, pred_notes = _run_tests(settings, reference_predictions, current_predictions)
        notes += [f"predictions: {n}" for n in pred_notes]
        sizes |= {"reference_predictions": len(reference_predictions), "current_predictions": len(current_predictions)}
    else:
        notes.append(f"predictions and sent messages not compared: {no_predictions_reason}")
    all_tests = [*tests, *(_prefixed(t) for t in pred_tests)]
    write_report(report_path, snapshot, windows, sizes, all_tests, notes, settings)

    drifted = drifted_columns(tests)
    drifted_predictions = drifted_columns(pred_tests)
    share = len(drifted) / max(len(set(ref.columns)), 1)
    rows = _metric_rows("data_drift", tests, settings) + _metric_rows("prediction_drift", pred_tests, settings)
    rows.append(
        {
            "kind": "data_drift",
            "subject": "all_features",
            "metric": "drifted_share",
            "value": share,
            "threshold": settings.drift_share_threshold,
            "breached": share > settings.drift_share_threshold,
        }
    )
    table = pd.DataFrame(rows).assign(run_id=run_id, computed_at=pd.Timestamp(datetime.now(UTC)))
    table = table[MONITORING_METRICS.column_names]
    with get_warehouse(cfg) as warehouse:
        written = 0
        for kind in ("data_drift", "prediction_drift"):
            # Each kind replaces only its own rows of this run: performance and fairness write beside it.
            part = table[table["kind"] == kind]
            written += warehouse.write(
                "monitoring_metrics", part, mode="replace_run", run_filter={"run_id": run_id, "kind": kind}
            )
    p_test = next((t for t in pred_tests if t.column == "p_response" and t.kind == "values"), None)
    prediction_drift = p_test.effect if p_test is not None else None
    breached = bool(drifted or drifted_predictions or share > settings.drift_share_threshold)
    if mlflow_run_id:
        connect(cfg)
        with mlflow.start_run(run_id=mlflow_run_id):
            mlflow.log_artifact(str(report_path), "drift")
            mlflow.log_metrics(
                {
                    "drifted_share": share,
                    "drifted_features": float(len(drifted)),
                    **({"prediction_drift": prediction_drift} if prediction_drift is not None else {}),
                }
            )
    details = {f"{t.column}:{t.kind}": t.effect for t in tests}
    worst = [(f"{t.column}:{t.kind}", t.p_adjusted) for t in tests[:5]]
    evidence = {
        f"{t.column}:{t.kind}": {"effect": t.effect, "p_adjusted": t.p_adjusted} for t in all_tests if t.drifted
    }
    sources = {c: feature_source(c) for c in [*drifted, *drifted_predictions]}
    return DriftResult(
        str(report_path),
        share,
        drifted,
        worst,
        prediction_drift,
        breached,
        written,
        details,
        evidence,
        drifted_predictions,
        None,
        sources,
        notes,
        windows=windows,
        sizes=sizes,
        ranked=[t.to_dict() for t in all_tests],
    )


def same_window(windows: dict[str, str], reference: pd.DataFrame, current: pd.DataFrame) -> str | None:
    """Why two windows must not be compared (the same named window, or the very same rows), else None."""
    if windows.get("reference") and windows.get("reference") == windows.get("current"):
        return f"reference and current are the same window ({windows['reference']}): nothing to compare"
    if len(reference) and reference.shape == current.shape:
        ref = reference.reset_index(drop=True).astype(str)
        cur = current.reset_index(drop=True).astype(str)
        key = list(ref.columns)
        if ref.sort_values(key).reset_index(drop=True).equals(cur.sort_values(key).reset_index(drop=True)):
            return "reference and current hold identical rows: a frame is never compared with itself"
    return None


def _run_tests(
    settings: MonitoringSettings, ref: pd.DataFrame, cur: pd.DataFrame
) -> tuple[list[ColumnTest], list[str]]:
    return drift_tests(
        ref,
        cur,
        [c for c in ref.columns if c in cur.columns],
        alpha=settings.drift_alpha,
        permutations=settings.drift_permutations,
        min_effect=settings.drift_min_effect,
        min_rows=settings.drift_min_rows,
    )


def _prefixed(test: ColumnTest) -> ColumnTest:
    return ColumnTest(**{**test.to_dict(), "column": f"prediction:{test.column}"})


def _judgeable(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns Evidently can draw: at least one value (an all-NULL column is reported by the tests)."""
    return frame[[c for c in frame.columns if frame[c].notna().any()]]


def _metric_rows(kind: str, tests: list[ColumnTest], settings: MonitoringSettings) -> list[dict[str, object]]:
    """Two rows per test: its Holm-adjusted p-value (threshold α) and its effect; breached = the test drifted."""
    rows = []
    for t in tests:
        subject = t.column if t.kind == "values" else f"{t.column}:missing"
        rows.append(
            {
                "kind": kind,
                "subject": subject,
                "metric": f"{t.method}_p_adjusted",
                "value": t.p_adjusted,
                "threshold": settings.drift_alpha,
                "breached": t.drifted,
            }
        )
        rows.append(
            {
                "kind": kind,
                "subject": subject,
                "metric": "missing_share_change" if t.kind == "missing" else f"{t.method}_effect",
                "value": t.effect,
                "threshold": settings.drift_min_effect,
                "breached": t.drifted,
            }
        )
    return rows


def write_report(
    path: Path,
    snapshot: object | None,
    windows: dict[str, str],
    sizes: dict[str, int],
    tests: list[ColumnTest],
    notes: list[str],
    settings: MonitoringSettings,
) -> Path:
    """The drift report: windows and sizes, then the ranked summary, then Evidently's per-column detail."""
    drifted = [t for t in tests if t.drifted]
    parts = [
        "<section id='herald-drift-summary' style='font-family:sans-serif;margin:1em'>",
        "<h1>Drift summary</h1>",
        "<table border='1' cellpadding='4'><tr><th>window</th><th>what</th><th>rows</th></tr>",
    ]
    for key in ("reference", "reference_source", "current", "reference_predictions", "current_predictions"):
        if key in windows or key in sizes:
            parts.append(
                f"<tr><td>{key}</td><td>{html.escape(str(windows.get(key, '')))}</td><td>{sizes.get(key, '')}</td></tr>"
            )
    parts.append("</table>")
    parts.append(
        f"<p><b>{len({t.column for t in drifted})} column(s) drifted</b> of {len({t.column for t in tests})} tested. "
        f"Rule: two-sample tests per column (KS for numbers, χ² or permutation for categories, Fisher for the "
        f"missing share), Holm-adjusted over the report at α = {settings.drift_alpha}"
        f"{f', effect at least {settings.drift_min_effect}' if settings.drift_min_effect else ''}; "
        "a column that becomes entirely NULL always counts.</p>"
    )
    if notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    if tests:
        parts.append(
            "<table border='1' cellpadding='4'><tr><th>rank</th><th>column</th><th>test of</th><th>method</th>"
            "<th>effect</th><th>p (Holm)</th><th>n ref / cur</th><th>drifted</th><th>note</th></tr>"
        )
        for rank, t in enumerate(tests, 1):
            parts.append(
                f"<tr><td>{rank}</td><td>{html.escape(t.column)}</td><td>{t.kind}</td><td>{t.method}</td>"
                f"<td>{t.effect:.3f}</td><td>{t.p_adjusted:.3g}</td><td>{t.n_reference} / {t.n_current}</td>"
                f"<td>{'yes' if t.drifted else ''}</td><td>{html.escape(t.note)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</section>")
    summary = "\n".join(parts)
    if snapshot is not None:
        snapshot.save_html(str(path))
        page = path.read_text()
        body = page.find("<body")
        at = page.find(">", body) + 1 if body >= 0 else 0
        path.write_text(page[:at] + summary + page[at:])
    else:
        path.write_text(
            f"<html><head><meta charset='utf-8'><title>Herald drift</title></head><body>{summary}</body></html>"
        )
    return path
