"""The Herald view inside the Airflow UI (an Airflow 3 plugin): reports and the champion's model card.

A FastAPI app mounted by Airflow's api-server at ``/herald`` and shown in the UI's navigation as
"Herald" (an external view embedded at ``/plugin/herald``). It serves, from HERALD_HOME:

- the latest decisions report (``reports/decisions/…/index.html``),
- the monitoring overview (``reports/monitoring/overview.html``) and the Evidently reports it links,
- the champion's model card and gate page, read from the MLflow registry,

so operations never need SQL for these. Airflow does not put its login in front of plugin apps:
bind the api-server to 127.0.0.1 (``herald ui airflow`` does by default) or front it with your proxy.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:1100px;color:#222}"
    "pre{white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:1rem}"
    "li{margin:.4rem 0}.note{color:#555;font-size:.9rem}"
)


def _reports() -> Path:
    home = Path(os.environ.get("HERALD_HOME", ".herald"))
    path = home / "reports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def _champion() -> dict[str, str] | None:
    """The champion version's number, description (the model card) and gate page, or None."""
    try:
        from mlflow.exceptions import MlflowException

        from pipelines.config import load_config
        from pipelines.tracking import connect

        cfg = load_config()
        client = connect(cfg)
        version = client.get_model_version_by_alias(cfg.model_name, "champion")
    except (ImportError, MlflowException, OSError):
        return None
    run = client.get_run(version.run_id)
    return {
        "name": cfg.model_name,
        "version": str(version.version),
        "estimator": version.tags.get("estimator", "?"),
        "card": version.description or "(no model card)",
        "gate": run.data.tags.get("mlflow.note.content", "(no gate page)"),
        "decision": version.tags.get("gate.decision", "?"),
    }


app = FastAPI(title="Herald", docs_url=None, redoc_url=None)


@app.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    """Links to the latest decisions report, the monitoring overview and the champion's model card."""
    reports = _reports()
    latest = reports / "decisions" / "latest.txt"
    items = []
    if latest.is_file():
        target = Path(latest.read_text().strip())
        rel = target.relative_to(reports) if target.is_relative_to(reports) else None
        run = target.parent.name
        items.append(
            f"<li><a href='reports/{rel}'>Latest decisions report</a> <span class='note'>({run})</span></li>"
            if rel
            else "<li>Latest decisions report: outside HERALD_HOME</li>"
        )
    else:
        items.append("<li>Decisions report: none yet (run herald_scoring)</li>")
    overview = reports / "monitoring" / "overview.html"
    items.append(
        "<li><a href='reports/monitoring/overview.html'>Monitoring overview</a> (drift, realised performance,"
        " fairness across runs)</li>"
        if overview.is_file()
        else "<li>Monitoring overview: none yet (run herald_monitoring)</li>"
    )
    champion = _champion()
    mlflow_ui = os.environ.get("HERALD_MLFLOW_UI_URL", "http://127.0.0.1:5000")
    if champion:
        link = f"{mlflow_ui}/#/models/{champion['name']}/versions/{champion['version']}"
        items.append(
            f"<li><a href='model-card'>Champion's model card and gate page</a>: {champion['name']} "
            f"v{champion['version']} ({html.escape(champion['estimator'])}) — "
            f"<a href='{link}' target='_blank'>open in MLflow</a></li>"
        )
    else:
        items.append("<li>Champion: none yet (run herald_training)</li>")
    return _page(
        "Herald",
        "<h1>Herald</h1><ul>" + "".join(items) + "</ul>"
        f"<p class='note'>Reports are read from {html.escape(str(reports))}.</p>",
    )


@app.get("/model-card", response_class=HTMLResponse)
def model_card() -> HTMLResponse:
    """The champion version's model card and the gate page of the run that registered it."""
    champion = _champion()
    if champion is None:
        return _page("Herald: no champion", "<p>No champion yet: run herald_training.</p><p><a href='./'>back</a></p>")
    return _page(
        f"{champion['name']} v{champion['version']}",
        f"<p><a href='./'>← Herald</a></p><h1>Champion: {champion['name']} v{champion['version']}</h1>"
        f"<h2>Gate page</h2><pre>{html.escape(champion['gate'])}</pre>"
        f"<h2>Model card</h2><pre>{html.escape(champion['card'])}</pre>",
    )


@app.get("/reports")
def reports_root() -> RedirectResponse:
    """The reports folder itself has no page: go to the index."""
    return RedirectResponse("./")


app.mount("/reports", StaticFiles(directory=str(_reports()), html=True, check_dir=False), name="reports")


class HeraldPlugin(AirflowPlugin):
    """Registers the app at /herald and an entry "Herald" in the UI's navigation."""

    name = "herald"
    fastapi_apps = [{"app": app, "url_prefix": "/herald", "name": "Herald reports"}]
    external_views = [
        {
            "name": "Herald",
            "href": "herald/",
            "url_route": "herald",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
