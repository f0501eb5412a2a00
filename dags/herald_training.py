"""Weekly training: extract → validate → features → baselines ∥ deep → register challenger → gate → fallback."""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task
from herald_defaults import DEFAULT_ARGS, START_DATE, herald_step, run_as_of

DOC = """
### Herald training
Pulls customers, events, messages, sends and reviews, validates them with Great Expectations,
builds the training set (features as of the start of the label window, rolling-origin folds by
send time), trains every model through the protocol (folds for early stopping and evidence, refit
on all labelled sends, out-of-fold calibration), and registers as **challenger** the candidate
that beats the prior-rate predictor with confidence and is not beaten on AUC with confidence by
another (paired customer-bootstrap intervals; preference order breaks ties). The gate promotes it
to **champion** unless the champion is better with confidence on newer rows or a calibration or
fairness bound is broken; when refused, the next eligible candidate is gated, and a first run
with nothing eligible serves the best fixed action by logged outcome. Every gate decision lands
in `model_promotions`.
Every task logs to one MLflow run named after this DAG run; each model has a child run.
"""


@dag(
    dag_id="herald_training",
    schedule="@weekly",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["herald", "training"],
    doc_md=DOC,
)
def herald_training() -> None:
    @task
    @herald_step
    def start() -> dict[str, str]:
        from pipelines.flows import training

        ctx = get_current_context()
        as_of = run_as_of(ctx)
        return {"as_of": as_of, "mlflow_run_id": training.start(ctx["run_id"], as_of)}

    @task
    @herald_step
    def extract(run: dict[str, str]) -> dict:
        from pipelines.flows import training

        return training.extract(get_current_context()["run_id"], run["as_of"])

    @task
    @herald_step
    def validate(run: dict[str, str], extracted: dict) -> dict:
        from pipelines.flows import training

        return training.validate(get_current_context()["run_id"], extracted, run["mlflow_run_id"])

    @task
    @herald_step
    def build_features(validated: dict, extracted: dict) -> dict:
        from pipelines.flows import training

        return training.build_features(get_current_context()["run_id"], validated, extracted)

    @task
    @herald_step
    def train_baselines(run: dict[str, str], training_set: dict) -> list:
        from pipelines.flows import training

        return training.train_baselines(get_current_context()["run_id"], training_set, run["mlflow_run_id"])

    @task
    @herald_step
    def train_deep(run: dict[str, str], training_set: dict) -> list:
        from pipelines.flows import training

        return training.train_deep(get_current_context()["run_id"], training_set, run["mlflow_run_id"])

    @task
    @herald_step
    def register(run: dict[str, str], training_set: dict, baselines: list, deep: list, validated: dict) -> dict:
        from pipelines.flows import training

        return training.register(
            get_current_context()["run_id"], run["mlflow_run_id"], training_set, [*baselines, *deep], validated
        )

    @task
    @herald_step
    def gate(record: dict) -> dict:
        from pipelines.flows import training

        return training.gate(record)

    @task
    @herald_step
    def gate_fallback(record: dict, decision: dict) -> dict:
        from pipelines.flows import training

        return training.gate_fallback(record, decision)

    @task
    @herald_step
    def finish(record: dict, extracted: dict, decision: dict, fallback: dict) -> dict:
        from pipelines.flows import training

        return training.finish(record, extracted["rows"], decision, fallback)

    run = start()
    extracted = extract(run)
    validated = validate(run, extracted)
    training_set = build_features(validated, extracted)
    baselines = train_baselines(run, training_set)
    deep = train_deep(run, training_set)  # parallel to the baselines
    record = register(run, training_set, baselines, deep, validated)  # the run record the rest pass along
    decision = gate(record)
    fallback = gate_fallback(record, decision)
    finish(record, extracted, decision, fallback)


herald_training()
