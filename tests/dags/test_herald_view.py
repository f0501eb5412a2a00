"""The Herald view plugin serves the reports of HERALD_HOME and says what is missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pipelines.flows.runner import PLUGINS_FOLDER


@pytest.fixture
def view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HERALD_HOME", str(tmp_path))
    monkeypatch.setenv("HERALD_TRACKING_URI", f"sqlite:///{tmp_path / 'none.db'}")
    spec = importlib.util.spec_from_file_location("herald_view_test", PLUGINS_FOLDER / "herald_view.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plugin_registers_a_nav_entry_and_an_app(view) -> None:
    plugin = view.HeraldPlugin
    assert plugin.fastapi_apps[0]["url_prefix"] == "/herald"
    assert plugin.external_views[0]["href"] == "herald/" and not plugin.external_views[0]["href"].startswith("/")


def test_index_links_the_reports_that_exist_and_serves_them(view, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(view.app)
    page = client.get("/").text
    assert "none yet (run herald_scoring)" in page and "none yet (run herald_monitoring)" in page
    report = tmp_path / "reports" / "decisions" / "scheduled__1" / "index.html"
    report.parent.mkdir(parents=True)
    report.write_text("<h1>Decisions of scoring run scheduled__1</h1>")
    (tmp_path / "reports" / "decisions" / "latest.txt").write_text(str(report))
    (tmp_path / "reports" / "monitoring").mkdir()
    (tmp_path / "reports" / "monitoring" / "overview.html").write_text("<h1>Monitoring overview</h1>")
    page = client.get("/").text
    assert "reports/decisions/scheduled__1/index.html" in page and "reports/monitoring/overview.html" in page
    assert "Decisions of scoring run" in client.get("/reports/decisions/scheduled__1/index.html").text
    assert client.get("/model-card").status_code == 200
