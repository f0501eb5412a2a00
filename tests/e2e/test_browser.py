"""The first hour in the UIs, in a real browser: Airflow (login, DAGs, a task log, the Herald view) and MLflow.

Drives Debian's Chromium (/usr/bin/chromium) through Playwright, headless; Playwright's own browser
download is never used. The state is one tiny run: the one tests/e2e/conftest.py builds for
test_demo_flow too, or the HERALD_HOME that ``HERALD_E2E_STATE`` names (e.g. what `herald demo
--size tiny` left behind). Screenshots go to tests/e2e/screenshots/ (used in the README).
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

# One worker runs this file and test_demo_flow.py: they share the tiny demo run (tests/e2e/conftest.py);
# tests/conftest.py SHARED_WORKER keeps them together.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("HERALD_CHROMIUM", "/usr/bin/chromium"))
SHOTS = Path(__file__).parent / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements.lock)")


@pytest.fixture(scope="module")
def cfg(request: pytest.FixtureRequest):
    """HERALD_E2E_STATE's demo state when given, else the tiny run shared with test_demo_flow."""
    given = os.environ.get("HERALD_E2E_STATE")
    if not given:
        yield request.getfixturevalue("demo_ran")
        return
    mp = pytest.MonkeyPatch()
    mp.setenv("HERALD_HOME", given)
    from pipelines.config import load_config

    yield load_config()
    mp.undo()


@pytest.fixture(scope="module")
def uis(cfg):
    from pipelines.flows.ui import read_ui, start_ui, stop_ui, wait_ready
    from pipelines.monitoring.receiver import free_port

    started = {}
    try:
        for name in ("mlflow", "airflow"):
            started[name] = start_ui(cfg, name, port=free_port(), api_only=True)
        for name, ui in started.items():
            assert wait_ready(ui.url, timeout_s=600), f"{name} did not answer; see {ui.log}"
        yield started
    finally:
        for name in started:
            stop_ui(cfg, name)
            assert read_ui(cfg, name) is None


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


def _api(url: str, token: str, path: str) -> dict:
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _token(ui) -> str:
    user, password = ui.login.removeprefix("user ").split(", password ")
    body = json.dumps({"username": user, "password": password}).encode()
    request = urllib.request.Request(
        ui.url + "/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["access_token"]


def test_every_task_of_every_dag_run_has_a_log_the_ui_serves(uis) -> None:
    ui = uis["airflow"]
    token = _token(ui)
    checked = 0
    for dag_id in ("herald_training", "herald_scoring", "herald_monitoring"):
        runs = _api(ui.url, token, f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]
        assert runs, f"no run of {dag_id}"
        for run in runs:
            run_path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run['dag_run_id'], safe='')}"
            tis = _api(ui.url, token, f"{run_path}/taskInstances?limit=200")
            for ti in tis["task_instances"]:
                if ti["state"] not in ("success", "failed") or not ti["try_number"]:
                    continue  # skipped (e.g. a short-circuited trigger) never ran: nothing to log
                path = f"{run_path}/taskInstances/{ti['task_id']}/logs/"
                path += f"{ti['try_number']}?map_index={ti['map_index']}"
                events = [str(e.get("event", "")) for e in _api(ui.url, token, path)["content"]]
                where = f"{dag_id} {ti['task_id']}: {events[:4]}"
                assert not any("Log file not found" in e or "Could not read served logs" in e for e in events), where
                assert any(e.endswith(f"attempt={ti['try_number']}.log") for e in events[:4]), where  # from the file
                assert len(events) > 4, where  # the task's own lines follow the source header
                assert not any(e.startswith("[herald]") for e in events)  # markers stay in the run's own log
                checked += 1
    assert checked >= 20


def test_airflow_login_dags_task_log_and_herald_view(uis, browser) -> None:
    ui = uis["airflow"]
    user, password = ui.login.removeprefix("user ").split(", password ")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(ui.url)
    page.locator("input").first.fill(user)
    page.locator("input[type=password]").fill(password)
    page.locator("button[type=submit]").click()
    # The login page sets the token cookie and then navigates away itself; going to /dags before that
    # navigation ends aborts it (net::ERR_ABORTED) and may leave the browser without the cookie.
    page.wait_for_url(lambda url: "/auth/" not in url, timeout=60_000)
    page.wait_for_load_state()
    page.goto(ui.url + "/dags")
    page.get_by_text("herald_training").first.wait_for(timeout=60_000)
    for dag_id in ("herald_scoring", "herald_monitoring"):
        assert page.get_by_text(dag_id).count() >= 1
    page.screenshot(path=str(SHOTS / "airflow_dags.png"))

    token = _token(ui)
    run = _api(ui.url, token, "/api/v2/dags/herald_training/dagRuns")["dag_runs"][0]["dag_run_id"]
    page.goto(f"{ui.url}/dags/herald_training/runs/{urllib.parse.quote(run, safe='')}/tasks/train_baselines")
    page.get_by_text("Log message source details").first.wait_for(timeout=60_000)
    page.get_by_text("Returned value was").first.wait_for(timeout=60_000)  # the task's own log lines
    page.screenshot(path=str(SHOTS / "airflow_task_log.png"))
    assert "Log file not found" not in page.content()

    page.goto(ui.url + "/plugin/herald")
    page.wait_for_timeout(3000)
    page.screenshot(path=str(SHOTS / "airflow_herald_view.png"))
    frame = page.frame_locator("iframe").first
    frame.get_by_text("Latest decisions report").wait_for(timeout=60_000)
    assert frame.get_by_text("Monitoring overview").count() >= 1
    page.screenshot(path=str(SHOTS / "airflow_herald_view.png"))
    frame.get_by_text("Latest decisions report").click()
    frame.get_by_text("In plain words").wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "decisions_report.png"), full_page=True)
    page.close()


def test_mlflow_shows_the_champion_with_its_model_card_and_gate_page(cfg, uis, browser) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(cfg.tracking_uri, cfg.tracking_uri)
    champion = client.get_model_version_by_alias(cfg.model_name, "champion")
    ui = uis["mlflow"]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{ui.url}/#/models/{cfg.model_name}/versions/{champion.version}")
    page.get_by_text("champion").first.wait_for(timeout=60_000)
    page.get_by_text("Test metrics").first.wait_for(timeout=30_000)  # the model card, as the description
    page.screenshot(path=str(SHOTS / "mlflow_champion_model_card.png"))
    run = client.get_run(champion.run_id)
    page.goto(f"{ui.url}/#/experiments/{run.info.experiment_id}/runs/{champion.run_id}")
    page.get_by_text("Gate:").first.wait_for(timeout=60_000)
    assert page.get_by_text("Off-policy value").count() >= 1
    page.screenshot(path=str(SHOTS / "mlflow_gate_page.png"))
    page.close()
