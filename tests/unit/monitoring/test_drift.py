"""Feature drift: no alarm on an unchanged world over several runs; the injected drift, and only it, is named."""

from __future__ import annotations

import pandas as pd

from pipelines.monitoring.alerts import Alert, alert, send_alert
from pipelines.monitoring.drift_report import compute_drift
from pipelines.monitoring.drift_stats import drift_columns, features_of, prediction_frame
from pipelines.synthetic import DRIFTED_FEATURES

from .conftest import T, days, features_at, world

NOTHING: dict = {"breached": False}


def test_no_false_alarm_over_several_runs_without_drift(cfg) -> None:
    # The champion trained a week ago; the world kept living (windows slide, new signups) without drift.
    reference = features_at(world(), T - days(7))
    for k in (1, 3, 5, 7):
        result = compute_drift(cfg, f"nodrift-{k}", reference, features_at(world(), T - days(7 - k)), None, None)
        assert not result.breached, (k, result.evidence)
        assert result.drifted_features == []
        assert alert(f"nodrift-{k}", result.to_dict(), NOTHING, NOTHING) is None


def test_injected_drift_names_only_the_drifted_features_and_alerts_once(cfg, smtp_inbox, webhook_inbox) -> None:
    reference = features_at(world(), T)
    current = features_at(world(drift=1.0), T)
    result = compute_drift(cfg, "drift-1", reference, current, None, None)
    columns = drift_columns(reference, current)
    expected = {
        f for table, cols in DRIFTED_FEATURES.items() for col in cols for f in features_of(f"{table}.{col}", columns)
    }
    assert result.breached
    assert result.drifted_features and set(result.drifted_features) <= expected, result.drifted_features
    assert result.sources["evt_cat_share_electronics"] == "events.product_category"

    cfg.alerts.smtp_host, cfg.alerts.smtp_port, cfg.alerts.email_to = (
        "127.0.0.1",
        smtp_inbox.port,
        ["oncall@example.com"],
    )
    cfg.alerts.webhook_url = f"http://127.0.0.1:{webhook_inbox.port}/hook"
    message = alert("drift-1", result.to_dict(), NOTHING, NOTHING)
    assert isinstance(message, Alert)
    send_alert(cfg, message)
    assert len(smtp_inbox) == 1 and len(webhook_inbox) == 1
    subject, body = smtp_inbox[0]
    assert "drift" in subject
    named = {f for f in columns if f in body}
    assert named == set(result.drifted_features)
    assert result.report_path in body and result.report_path in webhook_inbox[0][1]


def test_prediction_drift_counts_channel_and_message_mix(cfg) -> None:
    """Two random halves of one population, so only the predictions can drift: a channel-mix shift breaches."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 400

    def decisions(push_share: float) -> pd.DataFrame:
        # Exact mixes, shuffled: "same" means the same channel and message shares, not a chance resample.
        channel = rng.permutation(np.where(np.arange(n) < round(push_share * n), "push", "email"))
        message = rng.permutation(np.resize(["m_1", "m_2", "m_3"], n))
        return pd.DataFrame({"p_response": rng.beta(2, 30, n), "channel": channel, "message_id": message})

    customers = features_at(world(), T)
    # Identical frames would be refused as the same window; halves of one population have no feature drift.
    half = customers.sample(frac=0.5, random_state=0)
    reference, current = half, customers.drop(half.index)
    same = compute_drift(
        cfg,
        "pred-same",
        reference,
        current,
        prediction_frame(decisions(0.2)),
        prediction_frame(decisions(0.2)),
    )
    assert not same.breached
    shifted = compute_drift(
        cfg,
        "pred-shift",
        reference,
        current,
        prediction_frame(decisions(0.2)),
        prediction_frame(decisions(0.7)),
    )
    assert shifted.drifted_predictions == ["channel"] and shifted.breached


class _TowerStub:
    """Stands in for the deep champion: its customer vectors follow electronics interest."""

    def customer_embeddings(self, rows):
        import numpy as np

        share = rows.get("evt_cat_share_electronics", 0.0)
        x = np.asarray(pd.to_numeric(share, errors="coerce"), dtype=float).reshape(-1, 1)
        x = np.nan_to_num(x)
        return np.hstack([x, 2.0 * x, np.ones_like(x)])

    def message_embeddings(self, rows):
        import numpy as np

        return np.column_stack([rows["message_id"].str[-1:].astype(int).to_numpy(float), np.ones(len(rows))])


def _stored(rows: pd.DataFrame, estimator=None):
    """The reference as training stores it: a sketch of distributions (plus embedding components)."""
    import numpy as np

    from pipelines.monitoring.reference import Reference, embedding_sketch, reference_frame, reference_sketch

    sketch = reference_sketch(rows)
    if estimator is not None:
        vectors = np.asarray(estimator.customer_embeddings(rows))
        sketch["embeddings"] = {"customer": embedding_sketch(vectors, 3, "emb_customer")}
    return Reference(reference_frame(sketch), sketch)


def test_champion_embeddings_join_the_drift_report_as_components(cfg) -> None:
    from pipelines.monitoring.drift import champion_embeddings

    w = world()
    rows, current = features_at(world(), T), features_at(world(drift=1.0), T)
    stored = _stored(rows, _TowerStub())
    reference = stored.features
    sent = w.tables()["messages"][["message_id"]]
    notes: list[str] = []
    embeddings = champion_embeddings(
        cfg, _TowerStub(), "deep", stored, current, sent, sent.iloc[::-1], w.tables()["messages"], notes
    )
    assert embeddings is not None and notes == []
    ref, cur = embeddings
    k = cfg.monitoring.embedding_components
    assert [c for c in ref.columns if c.startswith("emb_customer")] == [
        f"emb_customer_pc{i + 1}" for i in range(min(k, 3))
    ]
    assert any(c.startswith("emb_message_pc") for c in ref.columns)
    result = compute_drift(cfg, "emb-1", reference, current, None, None, embeddings=embeddings)
    # Electronics interest is among the injected drifts, so the first component moves with it.
    assert "emb_customer_pc1" in result.drifted_features
    assert result.sources["emb_customer_pc1"] == "model.embeddings"


def test_a_champion_without_embeddings_is_named_in_the_notes(cfg) -> None:
    from pipelines.monitoring.drift import champion_embeddings

    reference = features_at(world(), T)
    notes: list[str] = []
    assert (
        champion_embeddings(
            cfg,
            object(),
            "lightgbm",
            _stored(reference),
            reference,
            pd.DataFrame(),
            pd.DataFrame(),
            world().tables()["messages"],
            notes,
        )
        is None
    )
    assert notes == ["champion (lightgbm) has no embeddings to summarise"]
