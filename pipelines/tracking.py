"""MLflow connection, the one MLflow run that follows each DAG run, and the short summary each run leaves."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipelines.config import HeraldConfig
from pipelines.errors import RegistryUnavailable

# Text columns of MLflow's SQL stores: PostgreSQL refuses longer values (SQLite does not check), so a
# description or tag written on the embedded store would fail on a production tracking server.
VERSION_DESCRIPTION_MAX = 5000  # model_versions.description, VARCHAR(5000)
VERSION_TAG_MAX = 5000  # model_version_tags.value, VARCHAR(5000)
RUN_TAG_MAX = 8000  # tags.value (a run's description is its tag mlflow.note.content), VARCHAR(8000)
DAG_RUN_TAG = "herald.dag_run_id"
DAG_ID_TAG = "herald.dag_id"


def connect(cfg: HeraldConfig) -> MlflowClient:
    """Point MLflow at the configured server (or local SQLite store) and check it answers."""
    if cfg.tracking_uri.startswith("sqlite:///"):
        (cfg.home / "mlflow").mkdir(parents=True, exist_ok=True)
    # Keep a dead server from hanging a task for minutes behind MLflow's default retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    mlflow.set_tracking_uri(cfg.tracking_uri)
    mlflow.set_registry_uri(cfg.tracking_uri)
    client = MlflowClient(cfg.tracking_uri, cfg.tracking_uri)
    try:
        experiment = client.get_experiment_by_name(cfg.mlflow_experiment)
        if experiment is None:
            client.create_experiment(cfg.mlflow_experiment, artifact_location=_artifact_location(cfg))
    except Exception as exc:  # MLflow raises many types for "cannot reach the store"
        raise RegistryUnavailable(
            f"MLflow tracking at {cfg.tracking_uri} is unreachable or unusable: {_first_line(exc)} "
            "(set HERALD_MLFLOW_TRACKING_URI to a running server)"
        ) from None
    mlflow.set_experiment(cfg.mlflow_experiment)
    return client


@contextlib.contextmanager
def server_calls(cfg: HeraldConfig, what: str) -> Iterator[None]:
    """Turn "the MLflow server went away" inside the block into one RegistryUnavailable line.

    A tracking server that stops mid-call (a deploy, a restart) surfaces as an MlflowException
    saying the API request failed, or as a raw connection error from an artifact upload; both are
    transient, so the task keeps its retries. Other MLflow errors pass through unchanged.

    Raises:
        RegistryUnavailable: naming ``what`` was being done and the server's URI.
    """
    try:
        yield
    except (requests.exceptions.ConnectionError, ConnectionError) as exc:
        raise _unavailable(cfg, what, exc) from exc
    except MlflowException as exc:
        if "failed with exception" not in str(exc) and "failed with timeout" not in str(exc):
            raise
        raise _unavailable(cfg, what, exc) from exc


def _unavailable(cfg: HeraldConfig, what: str, exc: BaseException) -> RegistryUnavailable:
    return RegistryUnavailable(
        f"MLflow tracking at {cfg.tracking_uri} stopped answering while {what}: {_first_line(exc)} "
        "(the task retries; check the server if it keeps failing)"
    )


def _artifact_location(cfg: HeraldConfig) -> str | None:
    # A remote server owns its artifact store; locally the artifacts go under HERALD_HOME.
    return cfg.artifact_root if cfg.tracking_uri.startswith("sqlite:") else None


def start(cfg: HeraldConfig, dag_id: str, dag_run_id: str, tags: dict[str, Any] | None = None) -> str:
    """The MLflow run id for a DAG run: found by tag, or created, so every task logs to one place."""
    client = connect(cfg)
    experiment = client.get_experiment_by_name(cfg.mlflow_experiment)
    assert experiment is not None
    found = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{DAG_RUN_TAG}` = '{dag_run_id}' and tags.`{DAG_ID_TAG}` = '{dag_id}'",
        max_results=1,
    )
    if found:
        return found[0].info.run_id
    run = client.create_run(
        experiment.experiment_id,
        run_name=f"{dag_id} {dag_run_id}",
        tags={DAG_RUN_TAG: dag_run_id, DAG_ID_TAG: dag_id, **{k: str(v) for k, v in (tags or {}).items()}},
    )
    return run.info.run_id


def finish(cfg: HeraldConfig, mlflow_run_id: str, status: str = "FINISHED") -> None:
    """Close the DAG run's MLflow run once its last task is done."""
    connect(cfg).set_terminated(mlflow_run_id, status)


def fit_markdown(text: str, limit: int, whole: str, details: tuple[str, ...] = ()) -> str:
    """Markdown ``text`` within ``limit`` characters for an MLflow text column, its ``## `` sections kept whole.

    Returns ``text`` when it fits. Otherwise sections are left out until the rest fits with a closing
    note that names them and ``whole`` (where the full text is, e.g. the artifact ``model_card.md``):
    first those whose heading starts with one of ``details`` (in that order), then the longest; a
    section left out that would fit again is put back. Sections kept stay in their order. Text
    without sections that does not fit is cut at a line break before the note.
    """
    if len(text) <= limit:
        return text
    head, *sections = text.split("\n## ")
    parts = [head, *(f"## {s}" for s in sections)]
    left_out: list[int] = []

    def note() -> str:
        names = ", ".join(parts[i].splitlines()[0].removeprefix("## ") for i in sorted(left_out))
        return f"\n\n*Left out here for MLflow's {limit:,}-character limit: {names or 'the rest'}; see {whole}.*"

    def joined() -> str:
        return "\n\n".join(p.rstrip("\n") for i, p in enumerate(parts) if i not in left_out) + note()

    def rank(i: int) -> tuple[int, int]:
        title = parts[i].removeprefix("## ")
        detail = next((n for n, d in enumerate(details) if title.startswith(d)), len(details))
        return detail, -len(parts[i])

    for i in sorted(range(1, len(parts)), key=rank):
        if len(joined()) <= limit:
            break
        left_out.append(i)
    for i in sorted(left_out, key=rank, reverse=True):  # put back what fits, most wanted first
        left_out.remove(i)
        if len(joined()) > limit:
            left_out.append(i)
    if len(joined()) <= limit:
        return joined()
    cut = text[: max(limit - len(note()), 0)]
    return cut[: cut.rfind("\n")] + note() if "\n" in cut else cut + note()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def summary_path(cfg: HeraldConfig, dag_id: str) -> Path:
    """Where the latest run of ``dag_id`` leaves its summary (JSON under ``reports/``)."""
    return cfg.reports_dir / f"latest_{dag_id}.json"


def write_run_summary(cfg: HeraldConfig, dag_id: str, summary: dict[str, Any]) -> Path:
    """Write the facts a person wants after a run (volumes, metrics, versions) as JSON."""
    path = summary_path(cfg, dag_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str))
    return path


def read_run_summary(cfg: HeraldConfig, dag_id: str) -> dict[str, Any] | None:
    """The latest run summary of ``dag_id``, or None when the DAG has not run here."""
    path = summary_path(cfg, dag_id)
    return json.loads(path.read_text()) if path.is_file() else None
