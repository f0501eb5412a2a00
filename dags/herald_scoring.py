"""Daily scoring: extract → validate → prepare → score shards (mapped) → budget → consent audit → segments → summary."""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task
from herald_defaults import DEFAULT_ARGS, START_DATE, herald_step, run_as_of

DOC = """
### Herald scoring
Loads the model behind the **champion** alias, scores every allowed candidate (message ×
consented channel × send hour, plus sending nothing) for each customer shard in parallel
(dynamic task mapping), applies the policy (consent, frequency cap, quiet hours, no-spam
threshold, exploration with logged propensities) and replaces this run's rows in `decisions`.
With a per-campaign budget the shards hand their offers to **allocate_budget**, which gives each
campaign's sends to the run's highest net uplifts across all shards and then writes the decisions.
**consent_audit** re-checks the written decisions (consent per channel, unsubscribes, forgotten
customers, frequency cap), writes the counts to `monitoring_metrics` and fails the run on any breach.
**segments** clusters customers on the champion's customer representation into `customer_segments`.
"""


@dag(
    dag_id="herald_scoring",
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["herald", "scoring"],
    doc_md=DOC,
)
def herald_scoring() -> None:
    @task
    @herald_step
    def start() -> dict[str, str]:
        from pipelines.flows import scoring

        ctx = get_current_context()
        as_of = run_as_of(ctx)
        return {"as_of": as_of, "mlflow_run_id": scoring.start(ctx["run_id"], as_of)}

    @task
    @herald_step
    def extract(run: dict[str, str]) -> dict:
        from pipelines.flows import scoring

        return scoring.extract(get_current_context()["run_id"], run["as_of"])

    @task
    @herald_step
    def validate(run: dict[str, str], extracted: dict) -> dict:
        from pipelines.flows import scoring

        return scoring.validate(get_current_context()["run_id"], extracted, run["mlflow_run_id"])

    @task
    @herald_step
    def load_champion() -> dict:
        from pipelines.flows import scoring

        return scoring.load_champion()

    @task
    @herald_step
    def prepare(run: dict[str, str], validated: dict) -> dict:
        from pipelines.flows import scoring

        return scoring.prepare(get_current_context()["run_id"], validated, run["as_of"])

    @task
    def shards(plan: dict) -> list[int]:
        return plan["shards"]

    @task(max_active_tis_per_dag=4)
    @herald_step
    def score_shard(shard: int, plan: dict, champion: dict) -> dict:
        from pipelines.flows import scoring

        return scoring.score_shard(get_current_context()["run_id"], shard, plan, champion)

    @task
    @herald_step
    def allocate_budget(plan: dict, champion: dict, shard_results: list) -> dict:
        from pipelines.flows import scoring

        return scoring.allocate_budget(get_current_context()["run_id"], plan, champion, list(shard_results))

    @task
    @herald_step
    def segments(run: dict[str, str], plan: dict, champion: dict) -> dict:
        from pipelines.flows import scoring

        return scoring.segments(get_current_context()["run_id"], plan, champion, run["mlflow_run_id"])

    @task
    @herald_step
    def check_inputs(plan: dict, champion: dict) -> dict:
        from pipelines.flows import scoring

        return scoring.check_inputs(plan, champion)

    @task
    @herald_step
    def consent_audit(run: dict[str, str], validated: dict, budget: dict) -> dict:
        from pipelines.flows import scoring

        del budget  # only orders the audit after every decision is written
        return scoring.consent_audit(get_current_context()["run_id"], validated, run["as_of"], run["mlflow_run_id"])

    @task
    @herald_step
    def summarize(run: dict[str, str], shard_results: list, budget: dict, segmented: dict) -> dict:
        from pipelines.flows import scoring

        return scoring.summarize(
            get_current_context()["run_id"], list(shard_results), run["mlflow_run_id"], budget, segmented
        )

    run = start()
    validated = validate(run, extract(run))
    champion = load_champion()
    plan = prepare(run, validated)
    shard_ids = shards(plan)
    check_inputs(plan, champion) >> shard_ids
    results = score_shard.partial(plan=plan, champion=champion).expand(shard=shard_ids)
    budget = allocate_budget(plan, champion, results)
    audited = consent_audit(run, validated, budget)
    summary = summarize(run, results, budget, segments(run, plan, champion))
    audited >> summary


herald_scoring()
