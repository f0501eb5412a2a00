"""On demand: the Hillstrom e-mail experiment (real data) through Herald — import → train → evaluate off-policy."""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task
from herald_defaults import DEFAULT_ARGS, START_DATE, herald_step, run_as_of

DOC = """
### Herald on Hillstrom (real data)
Validates the MineThatData Hillstrom CSV (columns, arms, value sets; a wrong file fails with the
column and rule), imports it into its own dataset as customers, two e-mail messages and sends
(arm = action, "No E-Mail" = hold-out, propensity 1/3), then trains the same models as
`herald_training` and values every policy (each fixed arm, random, the personalized policies and
the safe-improvement choice) by IPS and doubly robust estimation on held-out customers. Results,
uplift curves and the policy table go to the MLflow experiment `herald-hillstrom`.

Trigger with `path` (default: `HERALD_HILLSTROM__PATH`, else `../shared/data/hillstrom/`) and
`target` (`visit` or `conversion`; default from config).
"""


@dag(
    dag_id="herald_hillstrom",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["herald", "hillstrom"],
    doc_md=DOC,
    params={
        "path": Param(None, type=["null", "string"], description="the Hillstrom CSV; empty: from config"),
        "target": Param(
            None,
            type=["null", "string"],
            enum=[None, "visit", "conversion"],
            description="the outcome to learn; empty: from config",
        ),
    },
)
def herald_hillstrom() -> None:
    @task
    @herald_step
    def import_file() -> dict:
        from pipelines.flows import hillstrom

        ctx = get_current_context()
        as_of, params = run_as_of(ctx), ctx["params"]
        return {"as_of": as_of, "imported": hillstrom.import_file(as_of, params.get("path"), params.get("target"))}

    @task
    @herald_step
    def evaluate(imported: dict) -> dict:
        from pipelines.flows import hillstrom

        return hillstrom.evaluate(get_current_context()["run_id"], imported["as_of"], imported["imported"])

    evaluate(import_file())


herald_hillstrom()
