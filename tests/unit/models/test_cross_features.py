"""Customer × action crosses: computed from raw columns, absent when their sources are absent."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.preprocessing import CROSS_FEATURES, TabularPreprocessor, add_cross_features


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "channel": ["email", "push", "none"],
            "send_hour": [8, 20, 12],
            "msg_product_category": ["shoes", None, None],
            "evt_cat_share_shoes": [0.7, 0.1, 0.2],
            "evt_cat_share_home": [0.3, 0.9, 0.8],
            "evt_hour_mean": [9.0, 23.5, 12.0],
            "evt_total": [10.0, 4.0, 0.0],
            "evt_n_email_open": [5.0, 0.0, 0.0],
            "evt_n_push_open": [0.0, 2.0, 0.0],
            "label": [1, 0, 0],
        }
    )


def test_crosses_pick_the_matching_column_per_row() -> None:
    out = add_cross_features(_rows())
    assert out["x_category_interest"].tolist()[0] == 0.7
    assert np.isnan(out["x_category_interest"].iloc[1])  # message without a category
    assert out["x_hour_gap"].tolist()[:2] == [1.0, 3.5]  # 20h vs 23.5h wraps to 3.5 hours
    assert np.isnan(out["x_hour_gap"].iloc[2])  # the hold-out has no send hour to compare
    assert out["x_channel_opens"].tolist()[:2] == [0.5, 0.5]


def test_crosses_are_model_inputs_but_not_raw_inputs() -> None:
    prep = TabularPreprocessor.fit(_rows())
    assert set(CROSS_FEATURES) <= set(prep.numeric)
    assert not set(CROSS_FEATURES) & set(prep.input_schema())
    cats, nums = prep.transform(_rows().drop(columns=["label"]))
    assert nums.shape == (3, len(prep.numeric)) and np.isfinite(nums).all()


def test_missing_sources_mean_no_cross() -> None:
    out = add_cross_features(pd.DataFrame({"channel": ["email"], "label": [0]}))
    assert not set(CROSS_FEATURES) & set(out.columns)
