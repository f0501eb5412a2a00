"""``airflow dags test`` that leaves every task's log where the Airflow UI reads it.

Airflow 3's ``dags test`` runs each task in-process (``InProcessTestSupervisor``): the task's log
goes to the command's stdout and no per-task log file is written, so the UI shows "Log file not
found on worker" for every task. A scheduler-driven run instead has the supervisor write
``$AIRFLOW_HOME/logs/<log_filename_template>``. This wrapper gives the in-process runs the same
file: while a task runs, the process's stdout and stderr (file descriptors 1 and 2, so stdlib
logging, structlog, prints and C extensions alike) go to the file the UI would look for; after the
task, the file is copied back to the run's own output, so the whole-run log stays complete.

It also prints one ``[herald] task …`` line per task start and end, which ``herald run`` and
``herald demo`` follow to show progress.

Usage: ``python infra/airflow/dags_test.py <airflow dags test arguments>``; run with the
environment of ``pipelines.flows.runner.airflow_env``. Celery and Kubernetes workers need none of
this: their supervisor writes the same files itself.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def _task_log_path(ti: object) -> Path:
    """The file the UI reads for this try: base_log_folder / log_filename_template (Airflow's own config)."""
    import jinja2
    from airflow.configuration import conf

    template = jinja2.Template(conf.get("logging", "log_filename_template"))
    rel = template.render(ti=ti, try_number=ti.try_number)  # type: ignore[attr-defined]
    return Path(conf.get("logging", "base_log_folder")) / rel


def _marker(text: str) -> None:
    sys.stdout.flush()
    os.write(1, f"[herald] {text}\n".encode())


def install() -> None:
    """Wrap the in-process task runner so each task's output lands in its UI log file."""
    from airflow.sdk.execution_time import supervisor

    original = supervisor.run_task_in_process

    def run_with_task_log(ti, task, client=None):  # same signature as run_task_in_process
        path = _task_log_path(ti)
        path.parent.mkdir(parents=True, exist_ok=True)
        name = ti.task_id + (f"[{ti.map_index}]" if getattr(ti, "map_index", -1) >= 0 else "")
        _marker(f"task {name} started")
        started = time.monotonic()
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        offset = path.stat().st_size if path.exists() else 0
        result = None
        try:
            with path.open("ab") as log:
                os.dup2(log.fileno(), 1)
                os.dup2(log.fileno(), 2)
                try:
                    result = original(ti, task, client) if client is not None else original(ti, task)
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os.dup2(saved[0], 1)
                    os.dup2(saved[1], 2)
        finally:
            os.close(saved[0])
            os.close(saved[1])
            with path.open("rb") as log:
                log.seek(offset)
                os.write(1, log.read())
            state = getattr(getattr(result, "state", None), "value", getattr(result, "state", "failed"))
            _marker(f"task {name} finished: {state} in {time.monotonic() - started:.0f} s (log {path})")
        return result

    supervisor.run_task_in_process = run_with_task_log


def main(argv: list[str]) -> None:
    """Run ``airflow dags test <argv>`` with per-task log files."""
    install()
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", "dags", "test", *argv]
    airflow_main()


if __name__ == "__main__":
    main(sys.argv[1:])
