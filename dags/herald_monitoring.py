"""Daily monitoring: extract → validate → drift of inputs and predictions vs the champion's reference."""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from herald_defaults import DEFAULT_ARGS, START_DATE, herald_step, run_as_of

DOC = """
### Herald monitoring
Compares today's customer features with the champion's training window and the latest
decisions' predicted response with the champion's first scoring run (Evidently, effect-size
drift with thresholds from config), saves the HTML report, logs it to MLflow and writes one
row per metric to `monitoring_metrics`.
"""


@dag(
    dag_id="herald_monitoring",
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["herald", "monitoring"],
    doc_md=DOC,
)
def herald_monitoring() -> None:
    @task
    @herald_step
    def start() -> dict[str, str]:
        from pipelines.flows import monitoring

        ctx = get_current_context()
        as_of = run_as_of(ctx)
        return {"as_of": as_of, "mlflow_run_id": monitoring.start(ctx["run_id"], as_of)}

    @task
    @herald_step
    def extract(run: dict[str, str]) -> dict:
        from pipelines.flows import monitoring

        return monitoring.extract(get_current_context()["run_id"], run["as_of"])

    @task
    @herald_step
    def validate(run: dict[str, str], extracted: dict) -> dict:
        from pipelines.flows import monitoring

        return monitoring.validate(get_current_context()["run_id"], extracted, run["mlflow_run_id"])

    @task
    @herald_step
    def drift(run: dict[str, str], validated: dict) -> dict:
        from pipelines.flows import monitoring

        return monitoring.drift(get_current_context()["run_id"], validated, run["as_of"], run["mlflow_run_id"])

    @task
    @herald_step
    def finish(run: dict[str, str], drift_result: dict) -> dict:
        from pipelines.flows import monitoring

        return monitoring.finish(get_current_context()["run_id"], run["mlflow_run_id"], drift_result)

    run = start()
    finish(run, drift(run, validate(run, extract(run))))


herald_monitoring()
