"""The deployment files, checked without Docker or a cluster: compose, the Helm values, the images.

What is checked here is only the files' shape (no engine or cluster is reachable where the tests run);
tests/services/test_celery_stack.py runs the same processes (api-server, scheduler, dag-processor,
triggerer, Celery workers, MLflow server) for real against PostgreSQL and Redis.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART_KEYS = Path(__file__).with_name("airflow_chart_keys.txt")

AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
LONG_RUNNING = {"postgres", "redis", "mlflow", *AIRFLOW_SERVICES}
# ${VAR}, ${VAR:-default}, ${VAR:?message} (compose interpolation); $$ is a literal dollar.
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$", re.IGNORECASE)
URL_CREDENTIALS = re.compile(r"://[^/@:\s]+:([^@\s]+)@")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def _is_required_reference(value: str) -> bool:
    """The whole value is ${VAR:?message} or ${VAR} — a reference with no default to fall back on."""
    match = INTERPOLATION.fullmatch(value.strip())
    return bool(match) and match.group(2) in (None, ":?", "?")


def test_compose_runs_the_whole_production_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert LONG_RUNNING | {"airflow-init"} <= set(services)
    commands = {name: " ".join(services[name]["command"]) for name in AIRFLOW_SERVICES}
    assert commands["airflow-worker"] == "airflow celery worker"
    assert commands["airflow-dag-processor"] == "airflow dag-processor"
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:"), name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://"), name
        assert env["HERALD_MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name
    mlflow = " ".join(services["mlflow"]["command"])
    assert "--backend-store-uri=postgresql+psycopg2://" in mlflow and "--serve-artifacts" in mlflow


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        check = compose["services"][name].get("healthcheck")
        assert check and check.get("test"), f"service {name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert check.get("interval") and check.get("retries"), name


def test_depends_on_waits_for_health_or_completion(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must name a condition for each service"
        for target, rule in depends.items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = rule.get("condition")
            assert condition in ("service_healthy", "service_completed_successfully"), (name, target, condition)
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target}, which has no healthcheck"
            else:
                assert services[target].get("restart") == "no", f"{target} must run once for {name} to wait on it"
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["airflow-worker"]["depends_on"]["mlflow"]["condition"] == "service_healthy"
    assert services["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_volumes_are_declared_and_state_is_shared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in declared, f"{name} mounts volume {source}, not declared under volumes:"
    for name in AIRFLOW_SERVICES:
        assert "herald-state:/opt/herald" in compose["services"][name]["volumes"], name
    assert any(m.startswith("postgres-data:") for m in compose["services"]["postgres"]["volumes"])
    assert any(m.startswith("mlflow-artifacts:") for m in compose["services"]["mlflow"]["volumes"])


def test_no_secret_is_committed(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key) and not key.startswith("AIRFLOW_CONN_"):
                assert _is_required_reference(str(value)), f"{name}.{key} must be ${{VAR:?...}} from .env"
        for text in _strings(service):
            for match in URL_CREDENTIALS.finditer(text):
                assert _is_required_reference(match.group(1)), f"{name}: a password is written into {text!r}"
    for path in (ROOT / "infra").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not re.search(r"PASSWORD\s+'[^']+'", text), f"{path} writes a literal password"


def test_env_example_lists_every_variable_compose_reads() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = {m.group(1) for m in INTERPOLATION.finditer(text)}
    required = {m.group(1) for m in INTERPOLATION.finditer(text) if m.group(2) in (":?", "?")}
    example = (ROOT / ".env.example").read_text()
    listed = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")}
    assert used <= listed, f"missing from .env.example: {sorted(used - listed)}"
    for name in required:
        assert re.search(rf"^{name}=\s*$", example, re.MULTILINE), f"{name} must be left empty in .env.example"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env must be git-ignored"


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.split("[")[0].lower()] = version
    return pins


def _install_lines(dockerfile: Path) -> list[list[str]]:
    """The argument lists of every `pip install` / `uv pip install` in the Dockerfile's RUN steps."""
    text = dockerfile.read_text().replace("\\\n", " ")
    runs = [line[4:] for line in text.splitlines() if line.startswith("RUN ")]
    commands = [shlex.split(part) for run in runs for part in re.split(r"&&|;", run)]
    return [c[c.index("install") + 1 :] for c in commands if "install" in c and "pip" in c]


def test_the_airflow_image_installs_exactly_the_lock() -> None:
    installs = _install_lines(ROOT / "infra" / "airflow" / "Dockerfile")
    assert installs, "the Airflow Dockerfile installs nothing"
    for args in installs:
        packages = [a for a in args if not a.startswith("-") and "$" not in a and a != "requirements.lock"]
        if "-r" in args:
            assert args[args.index("-r") + 1] == "requirements.lock"
            assert packages == [], f"packages added beside the lock: {packages}"
        elif "--no-deps" in args:
            assert packages == ["."], args  # Herald itself, its dependencies already from the lock
        else:
            assert packages == ["uv==0.13.9"], args  # the installer, the same version as the Makefile's
            assert "uv==0.13.9" in (ROOT / "Makefile").read_text()
    assert any("-r" in a for a in installs)


def test_the_mlflow_image_is_constrained_to_the_lock() -> None:
    lock = _lock()
    for args in _install_lines(ROOT / "infra" / "mlflow" / "Dockerfile"):
        packages = [a for a in args if not a.startswith("-") and not a.endswith("requirements.lock")]
        if packages == ["uv==0.13.9"]:
            continue
        assert "-c" in args, "MLflow's image must take its versions from the lock (-c requirements.lock)"
        for package in packages:
            name = re.split(r"[=<>\[]", package)[0].lower()
            assert name in lock, f"{package} is not in requirements.lock"


def _chart_keys() -> tuple[set[str], set[str]]:
    exact, free = set(), set()
    for line in CHART_KEYS.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            (free if line.endswith(".*") else exact).add(line.removesuffix(".*"))
    return exact, free


def _unknown_keys(values: dict[str, Any], prefix: str = "") -> list[str]:
    exact, free = _chart_keys()
    unknown = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if path in free:
            continue
        if isinstance(value, dict) and value:
            if not any(k == path or k.startswith(path + ".") for k in exact | free):
                unknown.append(path)
            else:
                unknown += _unknown_keys(value, path + ".")
        elif path not in exact:
            unknown.append(path)
    return unknown


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _merge(base[key], value) if both else value
    return merged


def _helm(*files: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in files:
        values = _merge(values, yaml.safe_load((ROOT / "infra" / "helm" / name).read_text()))
    return values


@pytest.mark.parametrize("files", [("values.yaml",), ("values.yaml", "values-kubernetes.yaml")])
def test_helm_values_use_only_the_official_charts_keys(files: tuple[str, ...]) -> None:
    for name in files:
        raw = yaml.safe_load((ROOT / "infra" / "helm" / name).read_text())
        assert _unknown_keys(raw) == [], f"{name}: keys the chart does not have"


def test_helm_values_for_the_celery_executor() -> None:
    values = _helm("values.yaml")
    assert values["executor"] == "CeleryExecutor"
    assert values["redis"]["enabled"] or values["data"].get("brokerUrlSecretName")
    assert values["workers"]["replicas"] >= 2  # shards spread over workers
    _check_herald_settings(values)


def test_helm_values_for_the_kubernetes_executor() -> None:
    values = _helm("values.yaml", "values-kubernetes.yaml")
    assert values["executor"] == "KubernetesExecutor"
    assert values["redis"]["enabled"] is False and not values["data"].get("brokerUrlSecretName")
    assert values["logs"]["persistence"]["enabled"]  # a task pod's log outlives the pod
    _check_herald_settings(values)


def _check_herald_settings(values: dict[str, Any]) -> None:
    env = {e["name"]: e["value"] for e in values["env"]}
    assert env["HERALD_WAREHOUSE_BACKEND"] == "bigquery"
    assert env["HERALD_MLFLOW_TRACKING_URI"].startswith("http")
    from pipelines.config import HeraldConfig

    for name in env:  # every HERALD_ variable names a real setting
        assert name.removeprefix("HERALD_").lower() in HeraldConfig.model_fields, name
    # Tasks hand files to each other under HERALD_HOME, so every pod mounts the same claim there.
    mounts = {m["mountPath"]: m["name"] for m in values["volumeMounts"]}
    claim = {v["name"]: v.get("persistentVolumeClaim") for v in values["volumes"]}
    assert claim[mounts[env["HERALD_HOME"]]], "HERALD_HOME must be a shared persistent volume"
    assert values["images"]["airflow"]["repository"] and values["airflowVersion"].startswith("3.")
    for text in _strings(values):
        assert not URL_CREDENTIALS.search(text), f"a credential is written into {text!r}"
    assert "password" not in values.get("redis", {}) and "fernetKey" not in values
    assert values["data"]["metadataSecretName"] and values["fernetKeySecretName"]
