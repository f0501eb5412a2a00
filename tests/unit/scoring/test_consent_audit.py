"""The consent audit counts every decision a rule forbids, and a breach fails the run with the counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from pipelines.config import load_config
from pipelines.scoring.consent_audit import audit_decisions

AS_OF = datetime(2026, 3, 1, 9, tzinfo=UTC)


def _inputs():
    customers = pd.DataFrame(
        {
            "customer_id": ["ok", "no_sms", "unsub", "capped", "gone"],
            "consent_email": [True, True, True, True, True],
            "consent_push": [True, True, True, True, True],
            "consent_sms": [True, False, True, True, True],
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": ["unsub", "ok"],
            "event_ts": pd.to_datetime(["2026-02-20", "2026-02-20"], utc=True),
            "event_type": ["unsubscribe", "view"],
        }
    )
    sends = pd.DataFrame(
        {
            "customer_id": ["capped"] * 3 + ["ok"],
            "channel": ["email"] * 3 + ["none"],
            "sent_at": pd.to_datetime(["2026-02-27", "2026-02-28", "2026-02-28", "2026-02-28"], utc=True),
        }
    )
    return customers, events, sends


def _decisions(rows: list[tuple[str, str | None, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "message_id", "channel"])


def test_a_clean_run_has_no_breach() -> None:
    customers, events, sends = _inputs()
    decisions = _decisions(
        [("ok", "m1", "sms"), ("no_sms", "m1", "email"), ("unsub", None, None), ("capped", None, None)]
    )
    result = audit_decisions(load_config(), decisions, customers, events, sends, {"gone"}, AS_OF)
    assert not result.breached and result.messages == 2 and result.decisions == 4


@pytest.mark.parametrize(
    ("decision", "breach"),
    [
        (("no_sms", "m1", "sms"), "by_channel.sms"),
        (("unsub", "m1", "email"), "messages_to_unsubscribed"),
        (("capped", "m1", "push"), "frequency_cap_exceeded"),
        (("gone", None, None), "decisions_for_suppressed"),
        (("ok", "m1", "fax"), "messages_to_unknown_channel"),
    ],
)
def test_each_rule_is_caught(decision: tuple, breach: str) -> None:
    customers, events, sends = _inputs()
    result = audit_decisions(load_config(), _decisions([decision]), customers, events, sends, {"gone"}, AS_OF)
    counts = {**result.breaches, **{f"by_channel.{c}": n for c, n in result.by_channel.items()}}
    assert result.breached
    assert {k for k, v in counts.items() if v} == {breach}


def test_a_breach_writes_the_counts_and_fails_the_run(tmp_path, monkeypatch) -> None:
    from pipelines.scoring.consent_audit import ConsentBreach, consent_audit
    from pipelines.warehouse import get_warehouse

    monkeypatch.setenv("HERALD_HOME", str(tmp_path))
    cfg = load_config()
    customers, events, sends = _inputs()
    paths = {}
    for name, frame in (("customers", customers), ("events", events), ("sends", sends)):
        paths[name] = str(tmp_path / f"{name}.parquet")
        frame.to_parquet(paths[name])
    decisions = _decisions([("no_sms", "m1", "sms"), ("ok", "m2", "email")]).assign(
        logical_date=pd.Timestamp(AS_OF).date(), run_id="r1", shard=0, decided_at=pd.Timestamp(AS_OF)
    )
    with get_warehouse(cfg, must_exist=False) as warehouse:
        warehouse.write("decisions", decisions, mode="replace_run", run_filter={"run_id": "r1", "shard": 0})
    with pytest.raises(ConsentBreach, match=r"messages_without_consent\[sms\] 1 \(of 2 messages\)"):
        consent_audit(cfg, "r1", paths, AS_OF)
    with get_warehouse(cfg) as warehouse:
        metrics = warehouse.query("monitoring_run_breaches")
    assert len(metrics) == 1
    import duckdb

    with duckdb.connect(str(cfg.duckdb_path), read_only=True) as con:
        rows = con.sql(
            "SELECT subject, metric, value, breached FROM herald.monitoring_metrics WHERE kind = 'consent_audit'"
        ).df()
    sms = rows[(rows["subject"] == "sms") & (rows["metric"] == "messages_without_consent")].iloc[0]
    assert sms["value"] == 1 and bool(sms["breached"])
    assert not rows[rows["subject"] == "email"]["breached"].any()
