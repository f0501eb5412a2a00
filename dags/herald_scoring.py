"""Daily scoring: extract → validate → prepare → score shards (mapped) → budget → segments → publish → audit."""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task
from herald_defaults import DEFAULT_ARGS, START_DATE, herald_step, on_failure, run_as_of

DOC = """
### Herald scoring
Loads the model behind the **champion** alias, scores every allowed candidate (message ×
consented channel × send hour, plus sending nothing) for each customer shard in parallel
(dynamic task mapping), applies the policy (consent, frequency cap, quiet hours, no-spam
threshold, exploration with logged propensities) and stages the decisions in `decisions_staging`.
With a per-campaign budget the shards hand their offers to **allocate_budget**, which gives each
campaign's sends to the run's highest net uplifts across all shards and then stages the decisions.
**segments** clusters customers on the champion's customer representation (staged too).
**publish** checks the run is whole and, in one transaction, makes it the only visible run of its
logical date in `decisions` and `customer_segments` (ledger: `scoring_runs`). A killed or failed
run publishes nothing; a re-run or backfill of the same date replaces that date's rows.
**consent_audit** re-checks the published decisions (consent per channel, unsubscribes, forgotten
customers, frequency cap), writes the counts to `monitoring_metrics` and fails the run on any breach.
"""


def _on_failure(context: dict) -> None:
    """Alert as every Herald task does, and mark the run failed in the scoring_runs ledger."""
    on_failure(context)
    try:
        from pipelines.flows import scoring

        ti = context.get("task_instance") or context.get("ti")
        scoring.mark_failed(str(context.get("run_id")), f"{getattr(ti, 'task_id', '?')}: {context.get('exception')}")
    except Exception as exc:  # never mask the task's own failure
        import logging

        logging.getLogger(__name__).warning("could not mark the scoring run failed: %s", exc)


@dag(
    dag_id="herald_scoring",
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "on_failure_callback": _on_failure},
    tags=["herald", "scoring"],
    doc_md=DOC,
)
def herald_scoring() -> None:
    @task
    @herald_step
    def start() -> dict[str, str]:
        from pipelines.flows import scoring

        ctx = get_current_context()
        return scoring.start(ctx["run_id"], run_as_of(ctx))

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

        return scoring.prepare(get_current_context()["run_id"], validated, run["as_of"], run["logical_date"])

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
    def publish(plan: dict, champion: dict, budget: dict, segmented: dict) -> dict:
        from pipelines.flows import scoring

        return scoring.publish(get_current_context()["run_id"], plan, champion, budget, segmented)

    @task
    @herald_step
    def consent_audit(run: dict[str, str], validated: dict, published: dict) -> dict:
        from pipelines.flows import scoring

        del published  # only orders the audit after the run's decisions are published
        return scoring.consent_audit(get_current_context()["run_id"], validated, run["as_of"], run["mlflow_run_id"])

    @task
    @herald_step
    def summarize(run: dict[str, str], shard_results: list, budget: dict, segmented: dict, published: dict) -> dict:
        from pipelines.flows import scoring

        return scoring.summarize(
            get_current_context()["run_id"], list(shard_results), run["mlflow_run_id"], budget, segmented, published
        )

    run = start()
    validated = validate(run, extract(run))
    champion = load_champion()
    plan = prepare(run, validated)
    shard_ids = shards(plan)
    check_inputs(plan, champion) >> shard_ids
    results = score_shard.partial(plan=plan, champion=champion).expand(shard=shard_ids)
    budget = allocate_budget(plan, champion, results)
    segmented = segments(run, plan, champion)
    published = publish(plan, champion, budget, segmented)
    audited = consent_audit(run, validated, published)
    audited >> summarize(run, results, budget, segmented, published)


herald_scoring()
