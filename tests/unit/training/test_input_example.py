"""The registered model's input example is made up from its schema: the model takes it, and no customer is in it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.baselines import LogisticResponse
from models.preprocessing import TabularPreprocessor
from models.pyfunc import synthetic_input_example, to_model_input


def _rows(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    holdout = rng.random(n) < 0.2
    return pd.DataFrame(
        {
            "customer_id": [f"cust_{i:04d}" for i in range(n)],
            "message_id": np.where(holdout, None, "m1"),
            "channel": np.where(holdout, "none", rng.choice(["email", "push"], n)),
            "region": rng.choice(["uk", "de", "fr"], n),
            "evt_spend": rng.gamma(1.0, 40.0, n),
            "msg_offer_type": np.where(holdout, None, "discount"),
            "msg_title": np.where(holdout, None, "Spring offer"),
            "rev_text": [f"My parcel to 12 Baker Street was late, order {i}" for i in range(n)],
            "evt_sequence": [f"view|shoes||{i}.5;purchase|shoes|{i}.0|{i}.0" for i in range(n)],
            "gender": rng.choice(["F", "M"], n),
            "label": rng.integers(0, 2, n),
        }
    )


def test_example_follows_the_schema_and_copies_no_customer() -> None:
    rows = _rows()
    model = LogisticResponse(TabularPreprocessor.fit(rows, exclude=["gender"])).fit(rows)
    # The deep model's schema adds raw text and sequence columns beside the tabular ones.
    schema = {**model.input_schema(), "evt_sequence": "string", "rev_text": "string", "msg_title": "string"}
    example = to_model_input(synthetic_input_example(schema, model.preprocessor), schema)

    assert list(example.columns) == list(schema) and len(example) == 5
    assert np.all((model.predict_proba(example) > 0) & (model.predict_proba(example) < 1))
    assert example.loc[0, "channel"] == "none" and example.loc[0, "msg_offer_type"] is None  # a hold-out row
    assert example["rev_text"].isna().all() and example["msg_title"].isna().all()  # no free text
    assert not set(example["evt_sequence"]) & set(rows["evt_sequence"])
    text = example.to_json()
    assert not any(cid in text for cid in rows["customer_id"])
    assert "gender" not in example
    spend = model.preprocessor.stats["evt_spend"]
    assert example["evt_spend"].between(spend.min, spend.max).all()
    shared = [c for c in schema if c in rows]
    for _, row in example.iterrows():
        assert not (rows[shared].astype(str) == row[shared].astype(str)).all(axis=1).any()


def test_a_large_vocabulary_is_not_shown() -> None:
    rows = pd.DataFrame({"email": [f"person{i}@example.org" for i in range(200)], "x": np.arange(200.0)})
    prep = TabularPreprocessor.fit(rows)
    example = synthetic_input_example(prep.input_schema(), prep)
    assert set(example["email"]) == {"__unknown__"}
