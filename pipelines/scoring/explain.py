"""Why a customer got a decision: the top candidates recorded at scoring time, and `herald explain-decision`.

At scoring time each open customer's five best candidates (by net uplift) and the hold-out's
P(response) are kept in ``decision_traces`` as one compact JSON per customer. Explaining a decision
joins that with the decision row, the model version's registry tags, the scoring run's validation
report and the policy settings the run's consent audit logged.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.errors import HeraldError
from pipelines.warehouse import get_warehouse

TOP_CANDIDATES = 5


def decision_traces(scored: pd.DataFrame, holdout_p: pd.Series, top: int = TOP_CANDIDATES) -> pd.DataFrame:
    """Per customer, the ``top`` candidates by net uplift as compact JSON (customer_id, trace_json).

    ``scored`` has customer_id, message_id, channel, send_hour, p_response, uplift and net (see
    :func:`pipelines.policy.choice.net_uplift`); ``holdout_p`` is P(response) of sending nothing.
    """
    if scored.empty:
        return pd.DataFrame({"customer_id": pd.Series(dtype=object), "trace_json": pd.Series(dtype=object)})
    customer = scored["customer_id"].to_numpy(dtype=object)
    net = scored["net"].to_numpy(dtype=np.float64)
    order = np.lexsort((-net, customer))  # by customer, best net first
    ranked = scored.iloc[order]
    rank = ranked.groupby("customer_id", sort=False).cumcount().to_numpy()
    best = ranked[rank < top]
    counts = scored.groupby("customer_id").size()
    traces = []
    for cid, part in best.groupby("customer_id", sort=False):
        candidates = [
            [m, c, int(h), round(float(p), 5), round(float(u), 5), round(float(n), 5)]
            for m, c, h, p, u, n in part[
                ["message_id", "channel", "send_hour", "p_response", "uplift", "net"]
            ].itertuples(index=False)
        ]
        traces.append(
            {
                "customer_id": cid,
                "trace_json": json.dumps(
                    {
                        "holdout_p": round(float(holdout_p.get(cid, np.nan)), 5),
                        "candidates_scored": int(counts[cid]),
                        # message_id, channel, send_hour, p_response, uplift, net uplift
                        "top": candidates,
                    }
                ),
            }
        )
    return pd.DataFrame(traces, columns=["customer_id", "trace_json"])


def write_decision_traces(cfg: HeraldConfig, run_id: str, shard: int, traces: list[pd.DataFrame]) -> int:
    """Replace the traces of (run_id, shard) in ``decision_traces``."""
    frame = pd.concat(traces, ignore_index=True) if traces else decision_traces(pd.DataFrame(), pd.Series())
    frame = frame.assign(run_id=run_id, shard=shard)[["run_id", "shard", "customer_id", "trace_json"]]
    with get_warehouse(cfg) as warehouse:
        return warehouse.write(
            "decision_traces", frame, mode="replace_run", run_filter={"run_id": run_id, "shard": shard}
        )


def explain_decision(cfg: HeraldConfig, day: date, customer_id: str) -> dict[str, Any]:
    """Everything the run recorded about one customer's decision on ``day`` (the run's logical date).

    Raises HeraldError when no decision exists (never scored, another day, or forgotten).
    """
    with get_warehouse(cfg) as warehouse:
        found = warehouse.query("decision_of", {"customer_id": customer_id, "day": day})
        if found.empty:
            raise HeraldError(
                f"no decision for customer {customer_id} on {day.isoformat()} in {cfg.dataset}.decisions "
                "(check the date is a scoring run's logical date; forgotten customers have none)"
            )
        decision = found.iloc[0].to_dict()
        trace = None
        if warehouse.has_table("decision_traces"):
            rows = warehouse.query("decision_trace_of", {"run_id": decision["run_id"], "customer_id": customer_id})
            trace = json.loads(rows["trace_json"].iloc[0]) if len(rows) else None
    return {
        "decision": {k: _plain(v) for k, v in decision.items()},
        "trace": trace,
        "model": _model_tags(cfg, str(decision["model_name"]), str(decision["model_version"])),
        **_run_record(cfg, str(decision["run_id"])),
    }


def render_explanation(explained: dict[str, Any]) -> str:
    """The explanation as lines a person reads."""
    d, trace, model = explained["decision"], explained["trace"], explained["model"]
    action = (
        f"send {d['message_id']} by {d['channel']} at {d['send_hour']}:00"
        if d.get("message_id")
        else f"send nothing ({d.get('reason') or 'no candidate cleared the threshold'})"
    )
    lines = [
        f"Decision for {d['customer_id']} in scoring run {d['run_id']} (decided {d['decided_at']}): {action}",
        f"  policy {d['policy']}, propensity {_num(d['propensity'])}, P(response) {_num(d['p_response'])}, "
        f"uplift {_num(d['uplift'])}",
        f"Model: {d['model_name']} version {d['model_version']} — " + ", ".join(f"{k} {v}" for k, v in model.items())
        if model
        else f"Model: {d['model_name']} version {d['model_version']} (registry tags unavailable)",
        f"Input validation of the run: {explained.get('validation', 'not recorded')}",
    ]
    settings = explained.get("settings")
    if settings:
        p = settings["policy"]
        lines.append(
            f"Policy settings: min_uplift {p['min_uplift']}, exploration {p['exploration']} (epsilon {p['epsilon']}), "
            f"frequency cap {p['frequency_cap_7d']}/7 days, send hours {p['send_hours']}, quiet hours "
            f"{p['quiet_hours']}, channel cost {p['channel_cost']}, campaign budget {p['campaign_budget_per_run']}"
        )
        lines.append(
            "Rules: consent per channel (implied for "
            + (", ".join(settings["implied_consent_channels"]) or "none")
            + "), unsubscribed and forgotten customers get nothing, frequency cap, quiet hours; "
            + f"the run's consent audit: {settings['audit']['breaches']} by channel {settings['audit']['by_channel']}"
        )
    if trace:
        lines.append(
            f"Candidates scored: {trace['candidates_scored']}; "
            f"P(response) when sending nothing {_num(trace['holdout_p'])}"
        )
        lines.append("  rank  message        channel  hour  P(response)  uplift    net uplift")
        for i, (m, c, h, p_, u, n) in enumerate(trace["top"], start=1):
            chosen = " <- chosen" if (m, c, h) == (d.get("message_id"), d.get("channel"), d.get("send_hour")) else ""
            lines.append(f"  {i:>4}  {m:<14} {c:<8} {h:>4}  {p_:>11.5f}  {u:>8.5f}  {n:>10.5f}{chosen}")
    else:
        lines.append("Candidates: none scored (a rule decided before any score was looked at)")
    return "\n".join(lines)


def _model_tags(cfg: HeraldConfig, name: str, version: str) -> dict[str, str]:
    from pipelines.tracking import connect

    try:
        tags = connect(cfg).get_model_version(name, version).tags
    except Exception:  # noqa: BLE001 - a deleted version still leaves the decision explainable
        return {}
    keep = ("estimator", "data_validation", "test_auc", "gate.promoted", "privacy.protected_inputs", "feature_cutoff")
    return {k: tags[k] for k in keep if k in tags}


def _run_record(cfg: HeraldConfig, run_id: str) -> dict[str, Any]:
    """The scoring run's validation verdict and audited policy settings, from its MLflow run."""
    import mlflow

    from pipelines.scoring.consent_audit import SETTINGS_ARTIFACT
    from pipelines.tracking import DAG_ID_TAG, DAG_RUN_TAG, connect

    out: dict[str, Any] = {}
    try:
        client = connect(cfg)
        experiment = client.get_experiment_by_name(cfg.mlflow_experiment)
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{DAG_RUN_TAG}` = '{run_id}' and tags.`{DAG_ID_TAG}` = 'herald_scoring'",
            max_results=1,
        )
        if not runs:
            return out
        mlflow_run = runs[0].info.run_id
        path = mlflow.artifacts.download_artifacts(
            run_id=mlflow_run, artifact_path=SETTINGS_ARTIFACT, tracking_uri=cfg.tracking_uri
        )
        out["settings"] = json.loads(open(path).read())
        validation = mlflow.artifacts.download_artifacts(
            run_id=mlflow_run, artifact_path="validation/validation.json", tracking_uri=cfg.tracking_uri
        )
        report = json.loads(open(validation).read())
        kept = ", ".join(f"{t} {v['kept']}/{v['rows_in']}" for t, v in report["tables"].items())
        out["validation"] = f"{'passed' if report['passed'] else 'FAILED'} (rows kept: {kept})"
    except Exception as exc:  # noqa: BLE001 - an explanation with a gap beats none
        out.setdefault("validation", f"not available ({str(exc).splitlines()[0][:120]})")
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def _num(value: Any) -> str:
    return "n/a" if value is None or value != value else f"{float(value):.5f}"
