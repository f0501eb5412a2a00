"""The validation report: full JSON, a small self-contained HTML summary, and their MLflow logging."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from pipelines.config import HeraldConfig

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}.passed{color:#1a7f37}.failed{color:#b42318;font-weight:bold}
.quarantined{color:#b54708}.skipped{color:#777}code{font-size:12px}
"""


def safe_run_id(run_id: str) -> str:
    """The run id as a folder name (same rule as HeraldConfig.run_dir)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def report_dir(cfg: HeraldConfig, run_id: str) -> Path:
    """``reports/validation/<safe run id>/`` under HERALD_HOME."""
    path = cfg.reports_dir / "validation" / safe_run_id(run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_reports(cfg: HeraldConfig, run_id: str, report: dict[str, Any]) -> dict[str, str]:
    """Write ``validation.json`` and ``validation.html``; return their paths."""
    folder = report_dir(cfg, run_id)
    json_path = folder / "validation.json"
    json_path.write_text(json.dumps(report, indent=2, default=str))
    html_path = folder / "validation.html"
    html_path.write_text(render_html(report))
    return {"json": str(json_path), "html": str(html_path)}


def render_html(report: dict[str, Any]) -> str:
    """A one-page offline summary (no external CSS or scripts, unlike GX Data Docs)."""
    e = html.escape
    status = "passed" if report["passed"] else "failed"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Validation {e(report['run_id'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Data validation <span class='{status}'>{status.upper()}</span></h1>",
        f"<p>run <code>{e(report['run_id'])}</code> · purpose {e(report['purpose'])} · as_of {e(report['as_of'])}"
        f" · validated {e(report['validated_at'])}</p>",
        "<h2>Tables</h2><table><tr><th>table</th><th>rows in</th><th>kept</th><th>rejected</th>"
        "<th>share</th><th>status</th></tr>",
    ]
    for name, t in report["tables"].items():
        st = "passed" if t["passed"] else "failed"
        parts.append(
            f"<tr><td>{e(name)}</td><td>{t['rows_in']}</td><td>{t['kept']}</td><td>{t['rejected']}</td>"
            f"<td>{t['rejected_share']:.2%}</td><td class='{st}'>{st}</td></tr>"
        )
    parts.append("</table>")
    if report.get("failures"):
        parts.append("<h2>Why it failed</h2><ul>" + "".join(f"<li>{e(x)}</li>" for x in report["failures"]) + "</ul>")
    parts.append(
        "<h2>Rules</h2><table><tr><th>table</th><th>column</th><th>rule</th><th>expectation</th>"
        "<th>level</th><th>outcome</th><th>unexpected</th><th>sample / observed</th></tr>"
    )
    order = {"failed": 0, "quarantined": 1, "skipped": 2, "passed": 3}
    rules = sorted((r for t in report["tables"].values() for r in t["rules"]), key=lambda r: order[r["outcome"]])
    for r in rules:
        detail = r["sample"] or r["observed"] or ""
        parts.append(
            f"<tr><td>{e(r['table'])}</td><td>{e(str(r['column'] or ''))}</td><td>{e(r['rule'])}</td>"
            f"<td><code>{e(r['expectation'])}</code></td><td>{e(r['level'])}</td>"
            f"<td class='{r['outcome']}'>{r['outcome']}</td><td>{r['unexpected_count']}</td>"
            f"<td><code>{e(json.dumps(detail, default=str)[:300])}</code> {e(r['note'])}</td></tr>"
        )
    parts.append("</table></body></html>")
    return "\n".join(parts)


def log_to_mlflow(cfg: HeraldConfig, mlflow_run_id: str, paths: dict[str, str], metrics: dict[str, float]) -> None:
    """Attach the report files and the row counts to the DAG run's MLflow run."""
    import mlflow

    from pipelines.tracking import connect

    connect(cfg)
    with mlflow.start_run(run_id=mlflow_run_id):
        for path in paths.values():
            mlflow.log_artifact(path, "validation")
        mlflow.log_metrics(metrics)
