"""The whole Hillstrom experiment on the sample: generic training, held-out policy values, SPI, MLflow, CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pipelines.config import HeraldConfig, load_config
from pipelines.policy.experiment import run_experiment
from pipelines.policy.experiment_report import policy_table
from pipelines.warehouse.hillstrom.importer import hillstrom_config

from .conftest import NOW, SAMPLE

FIXED = ("nobody", "all_mens", "all_womens", "random")


def _check_result(result: dict, models: tuple[str, ...]) -> None:
    policies = result["policies"]
    for name in (
        *FIXED,
        *(f"personalized_{m}" for m in models),
        *(f"personalized_{m}_raw" for m in models),
        "naive_tlearner",
    ):
        v = policies[name]
        assert v["ci_low"] <= v["ips"] <= v["ci_high"], name
        assert v["dr_ci_low"] <= v["dr"] <= v["dr_ci_high"], name
    best = result["best_single_arm"]
    assert best["name"] in FIXED[:3] and best["visit_rate"] == max(policies[n]["ips"] for n in FIXED[:3])
    for m in models:
        decision = result["safe_policy"][m]
        deployed = policies[f"personalized_{m}"]
        if not decision["personalize"]:
            # The fallback is the best fixed arm on validation, valued on test like every other policy.
            assert deployed["ips"] == pytest.approx(policies[decision["best_fixed_name"]]["ips"])
            assert deployed["deployed"] == f"best_fixed:{decision['best_fixed_name']}"
    counts = result["split_counts"]
    assert set(counts) == {"train", "stop", "validation", "test"} and sum(counts.values()) == 1998


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> tuple[HeraldConfig, dict]:
    """One run without the deep model, shared by the tests that read its result."""
    cfg = load_config(home=tmp_path_factory.mktemp("herald"), hillstrom={"path": SAMPLE, "bootstrap": 60})
    return cfg, run_experiment(cfg, deep=False, now=NOW)


def test_experiment_on_the_sample_without_deep(experiment) -> None:
    from mlflow.tracking import MlflowClient

    cfg, result = experiment
    _check_result(result, ("lightgbm", "logreg"))
    assert result["rows"] == {"customers": 1998, "messages": 2, "sends": 1998}
    assert {"train_baselines", "score_and_evaluate"} <= set(result["timings_s"])

    hcfg = hillstrom_config(cfg)
    client = MlflowClient(hcfg.tracking_uri)
    run = client.get_run(result["mlflow_run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "herald-hillstrom"
    assert run.data.tags["safe_policy.lightgbm"] and "safe_policy.lightgbm.reason" in run.data.tags
    assert "policy.all_mens.ips" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {"evaluation/policy_values.png", "evaluation/qini_curves.png", "evaluation/policy_values.csv"} <= artifacts
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert {c.data.tags["mlflow.runName"] for c in children} == {"lightgbm", "logreg"}

    summary = json.loads((hcfg.reports_dir / "latest_herald_hillstrom.json").read_text())
    assert summary["best_single_arm"] == result["best_single_arm"]
    table = policy_table(result)
    assert list(table["policy"])[:4] == ["nobody", "all_mens", "all_womens", "random"]


def test_cli_import_and_run(experiment, tmp_path, monkeypatch) -> None:
    import pipelines.policy.experiment
    from pipelines.cli import app

    monkeypatch.setenv("HERALD_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "160")  # rich wraps to the terminal width
    runner = CliRunner()
    imported = runner.invoke(app, ["hillstrom", "import", "--path", str(SAMPLE), "--target", "conversion"])
    assert imported.exit_code == 0, imported.output
    assert "conversion" in imported.output and "sends 1,998" in imported.output
    # The run itself is the module's shared experiment (a second full run would only repeat it).
    seen: dict = {}

    def fake_run(cfg, path, target, deep, progress=None):  # noqa: ANN001, ANN202
        seen.update(path=path, target=target, deep=deep)
        return experiment[1]

    monkeypatch.setattr(pipelines.policy.experiment, "run_experiment", fake_run)
    ran = runner.invoke(app, ["hillstrom", "run", "--path", str(SAMPLE), "--no-deep"])
    assert ran.exit_code == 0, ran.output
    assert seen == {"path": SAMPLE, "target": None, "deep": False}
    assert "personalized_lightgbm" in ran.output and "all_mens" in ran.output and "Safe policy" in ran.output
    bad = runner.invoke(app, ["hillstrom", "import", "--path", str(tmp_path / "missing.csv")])
    assert bad.exit_code != 0


@pytest.mark.slow
def test_experiment_on_the_sample_with_the_deep_model(cfg) -> None:
    deep_cfg = cfg.model_copy(update={"deep": cfg.deep.model_copy(update={"max_epochs": 3})})
    result = run_experiment(deep_cfg, deep=True, now=NOW)
    _check_result(result, ("lightgbm", "logreg", "deep"))
    # No events, reviews or banners in this dataset: those modalities switched themselves off.
    assert result["modalities"]["sequence"] is False and result["modalities"]["reviews"] is False
    assert result["modalities"]["images"] is False
