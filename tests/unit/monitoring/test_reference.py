"""The drift reference is a sketch of distributions: no customer row in it, and the drift verdicts unchanged."""

from __future__ import annotations

import json

import pandas as pd

from pipelines.monitoring.drift_report import compute_drift
from pipelines.monitoring.reference import RARE, pool_rare, reference_frame, reference_sketch

from .conftest import T, days, features_at, world


def test_the_sketch_holds_no_id_text_sequence_or_row() -> None:
    w = world()
    rows = features_at(w, T)
    text = json.dumps(reference_sketch(rows))
    assert not any(cid in text for cid in w.customers["customer_id"])
    assert not any(t in text for t in w.reviews["text"].dropna() if len(t) > 12)
    assert not any(seq in text for seq in rows["evt_sequence"].dropna() if seq)
    # A category shared by fewer than min_count customers is pooled: a unique value singles nobody out.
    unique = pd.DataFrame({"tier": ["gold"] * 10 + ["only-me"], "x": range(11)})
    sketch = reference_sketch(unique, min_count=5)
    assert sketch["columns"]["tier"]["counts"] == {"gold": 10}
    assert sketch["columns"]["tier"]["rare"] == 1
    assert "only-me" not in json.dumps(sketch)


def test_rebuilt_reference_keeps_every_column_distribution() -> None:
    rows = features_at(world(), T)
    rebuilt = reference_frame(reference_sketch(rows))
    assert len(rebuilt) == len(rows)
    for col in ("evt_spend", "evt_total", "tenure_days"):
        original = pd.to_numeric(rows[col], errors="coerce").dropna()
        assert abs(rebuilt[col].dropna().median() - original.median()) <= 0.02 * (original.std() + 1e-9) + 1e-9
        assert rebuilt[col].notna().sum() == original.size
    counts = rows["region"].astype(str).value_counts()
    assert rebuilt["region"].value_counts().to_dict() == counts[counts >= 5].to_dict()


def test_drift_from_the_sketch_agrees_with_drift_from_rows(cfg) -> None:
    rows = features_at(world(), T - days(7))
    sketch = reference_sketch(rows)
    reference = reference_frame(sketch)
    calm = pool_rare(features_at(world(), T), sketch)
    assert not compute_drift(cfg, "sketch-calm", reference, calm, None, None).breached
    drifted = pool_rare(features_at(world(drift=1.0), T), sketch)
    from_sketch = compute_drift(cfg, "sketch-drift", reference, drifted, None, None)
    from_rows = compute_drift(cfg, "rows-drift", rows, features_at(world(drift=1.0), T), None, None)
    assert from_sketch.breached and from_rows.breached
    assert set(from_sketch.drifted_features) == set(from_rows.drifted_features)
    assert RARE not in set(calm["region"].dropna()) or (calm["region"] == RARE).mean() < 0.05
