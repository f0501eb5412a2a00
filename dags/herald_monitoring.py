"""Daily monitoring: drift, realised performance and fairness vs thresholds → alerts → retraining trigger."""

from __future__ import annotations

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, get_current_context, task
from herald_defaults import DEFAULT_ARGS, START_DATE, herald_step, run_as_of

DOC = """
### Herald monitoring
Compares today's customer features (and the deep champion's embeddings) with the champion's training
window, and the latest decisions (p_response, channel and message mix) with the champion's first
scoring run, by effect sizes (PSI, Wasserstein, Jensen–Shannon) with thresholds from config; judges
past decisions on the outcomes that arrived since (AUC, calibration, realised uplift) and fairness
across protected groups (fairlearn). Reports go to HERALD_HOME/reports and MLflow, one row per metric
to `monitoring_metrics`. Any breach sends one alert (SMTP + webhook notifiers); breaches that persist
trigger `herald_training`, at most once per cooldown. **apply_retention** then deletes run hand-offs
and reports older than `privacy.retention_days` (README "Privacy").
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
    def performance(run: dict[str, str], validated: dict) -> dict:
        from pipelines.flows import monitoring

        return monitoring.performance(get_current_context()["run_id"], run["as_of"])

    @task
    @herald_step
    def fairness(run: dict[str, str], validated: dict) -> dict:
        from pipelines.flows import monitoring

        return monitoring.fairness(get_current_context()["run_id"], validated, run["as_of"], run["mlflow_run_id"])

    @task
    @herald_step
    def alert(drift_result: dict, performance_result: dict, fairness_result: dict) -> list[str]:
        from herald_notifiers import deliver

        from pipelines.flows import monitoring

        ctx = get_current_context()
        message = monitoring.alert(ctx["run_id"], drift_result, performance_result, fairness_result)
        return deliver(message, ctx) if message else []

    @task.short_circuit
    @herald_step
    def should_retrain(alerted: list[str]) -> bool:
        from pipelines.flows import monitoring

        return bool(monitoring.should_retrain(get_current_context()["run_id"])["trigger"])

    @task
    @herald_step
    def finish(
        run: dict[str, str], drift_result: dict, performance_result: dict, fairness_result: dict, alerted: list[str]
    ) -> dict:
        from pipelines.flows import monitoring

        return monitoring.finish(
            get_current_context()["run_id"],
            run["mlflow_run_id"],
            drift_result,
            performance_result,
            fairness_result,
            alerted,
            as_of=run["as_of"],
        )

    @task
    @herald_step
    def apply_retention(run: dict[str, str], summary: dict) -> dict:
        from pipelines.flows import monitoring

        del summary  # only orders the cleanup after this run's own files are used
        return monitoring.apply_retention(run["as_of"])

    run = start()
    validated = validate(run, extract(run))
    drifted, performed, fair = drift(run, validated), performance(run, validated), fairness(run, validated)
    alerted = alert(drifted, performed, fair)
    apply_retention(run, finish(run, drifted, performed, fair, alerted))
    should_retrain(alerted) >> TriggerDagRunOperator(
        task_id="trigger_training",
        trigger_dag_id="herald_training",
        conf={"reason": "persistent drift or performance breach", "monitoring_run_id": "{{ run_id }}"},
        wait_for_completion=False,
    )


herald_monitoring()
