"""Forget customers on request: suppress them in every later extract, erase them everywhere Herald wrote, verify."""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task
from herald_defaults import DEFAULT_ARGS, START_DATE, herald_step

DOC = """
### Herald forget (right to erasure)
Triggered by hand with the customers to forget, e.g.
`airflow dags trigger herald_forget --conf '{"customer_ids": ["c_000123"], "request_id": "DSR-42"}'`
(or `herald forget c_000123 --request-id DSR-42` without Airflow).
**forget_customers** adds them to `suppressed_customers` (every extract leaves them out from now
on) and erases them from `decisions`, `customer_segments`, `decision_traces`, `rejected_rows`,
the Parquet hand-offs under HERALD_HOME/runs, ids in reports and the text-embedding cache.
**find_traces** fails the run if anything Herald wrote still names them.
The source tables (customers, events, sends, reviews) belong to the warehouse owner: see README "Privacy".
"""


@dag(
    dag_id="herald_forget",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["herald", "privacy"],
    doc_md=DOC,
    params={
        "customer_ids": Param([], type="array", description="customer ids to forget"),
        "request_id": Param(None, type=["null", "string"], description="the data-subject request's reference"),
    },
)
def herald_forget() -> None:
    @task
    @herald_step
    def forget_customers() -> dict:
        from pipelines.flows import forget

        ctx = get_current_context()
        params = ctx["params"]
        return forget.forget_customers(params["customer_ids"], params.get("request_id"), f"airflow:{ctx['run_id']}")

    @task
    @herald_step
    def find_traces(forgotten: dict) -> list:
        from pipelines.flows import forget

        del forgotten  # only orders this task after the erasure
        return forget.find_traces(get_current_context()["params"]["customer_ids"])

    find_traces(forget_customers())


herald_forget()
