"""The deep estimator: training, modality switches, determinism, joblib and the MLflow pyfunc."""

from __future__ import annotations

from pathlib import Path

import joblib
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from models.deep import DeepResponse
from models.preprocessing import TabularPreprocessor
from models.pyfunc import ESTIMATOR_ARTIFACT, HeraldResponsePyfunc, save_estimator, signature_for, to_model_input
from models.settings import DeepSettings


def fit(
    train: pd.DataFrame, valid: pd.DataFrame, config: DeepSettings, exclude: tuple[str, ...] = ("gender", "split")
) -> DeepResponse:
    return DeepResponse(TabularPreprocessor.fit(train, exclude=list(exclude)), config).fit(train, valid)


def test_trains_and_predicts_probabilities(splits: tuple[pd.DataFrame, ...], fast_config: DeepSettings) -> None:
    train, valid, test = splits
    model = fit(train, valid, fast_config)
    p = model.predict_proba(test)
    assert p.shape == (len(test),) and np.all((p > 0) & (p < 1))
    assert model.history and "val_loss" in model.history[0]
    schema = model.input_schema()
    assert {"evt_sequence", "rev_text", "msg_title", "msg_body", "msg_image_uri"} <= set(schema)
    assert "gender" not in schema


@pytest.mark.parametrize(
    "dropped",
    [
        ["evt_sequence"],
        ["rev_text"],
        ["msg_image_uri"],
        ["msg_title", "msg_body"],
        ["evt_sequence", "rev_text", "msg_image_uri", "msg_title", "msg_body"],
    ],
)
def test_missing_modalities_switch_off(
    splits: tuple[pd.DataFrame, ...], fast_config: DeepSettings, dropped: list[str]
) -> None:
    train, valid, test = (s.drop(columns=dropped) for s in splits)
    model = fit(train, valid, fast_config)
    assert not set(dropped) & set(model.input_schema())
    assert np.isfinite(model.predict_proba(test)).all()


def test_all_null_modality_and_config_switch(splits: tuple[pd.DataFrame, ...], fast_config: DeepSettings) -> None:
    train, valid, test = (s.assign(msg_image_uri=None) for s in splits)
    fast_config.reviews = False
    model = fit(train, valid, fast_config)
    assert model.modalities["images"] is False and model.modalities["reviews"] is False
    assert model.modalities["sequence"] is True
    assert np.isfinite(model.predict_proba(test)).all()


def test_same_seed_same_predictions(splits: tuple[pd.DataFrame, ...], fast_config: DeepSettings) -> None:
    train, valid, test = splits
    first = fit(train, valid, fast_config).predict_proba(test)
    second = fit(train, valid, fast_config).predict_proba(test)
    np.testing.assert_array_equal(first, second)


def test_prediction_does_not_depend_on_batch_company(
    splits: tuple[pd.DataFrame, ...], fast_config: DeepSettings
) -> None:
    train, valid, test = splits
    model = fit(train, valid, fast_config)
    whole = model.predict_proba(test)
    alone = np.concatenate([model.predict_proba(test.iloc[[i]]) for i in range(5)])
    np.testing.assert_allclose(whole[:5], alone, rtol=1e-5)


def test_joblib_round_trip(splits: tuple[pd.DataFrame, ...], fast_config: DeepSettings, tmp_path: Path) -> None:
    train, valid, test = splits
    model = fit(train, valid, fast_config)
    model.featurizer.embedder._encoder = object()  # stands in for a loaded SentenceTransformer
    path = save_estimator(model, tmp_path / "deep.joblib")
    loaded = joblib.load(path)
    assert loaded.featurizer.embedder._encoder is None  # never pickled, reloaded lazily
    np.testing.assert_allclose(loaded.predict_proba(test), model.predict_proba(test), rtol=1e-6)


def test_pyfunc_round_trip_from_raw_rows(
    splits: tuple[pd.DataFrame, ...], fast_config: DeepSettings, tmp_path: Path
) -> None:
    train, valid, test = splits
    model = fit(train, valid, fast_config)
    schema = model.input_schema()
    artifact = save_estimator(model, tmp_path / "deep.joblib")
    raw = to_model_input(test, schema)
    mlflow.pyfunc.save_model(
        path=str(tmp_path / "pyfunc"),
        python_model=HeraldResponsePyfunc(),
        artifacts={ESTIMATOR_ARTIFACT: str(artifact)},
        signature=signature_for(schema),
    )
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "pyfunc"))
    served = np.asarray(loaded.predict(raw))
    assert test["channel"].eq("none").any()  # hold-out rows go through the served model too
    np.testing.assert_allclose(served, model.predict_proba(test), rtol=1e-5)


@pytest.mark.slow
def test_real_minilm_embeddings(tmp_path: Path, real_minilm: None) -> None:
    from models.components.text import TextEmbedder

    embedder = TextEmbedder(tmp_path)
    vectors, mask = embedder.embed(["Great shoes | cheap", None, "Great shoes | cheap"])
    assert vectors.shape == (3, 384) and mask.tolist() == [1.0, 0.0, 1.0]
    np.testing.assert_array_equal(vectors[0], vectors[2])
    again, _ = TextEmbedder(tmp_path).embed(["Great shoes | cheap"])  # served from the disk cache
    np.testing.assert_allclose(again[0], vectors[0])


def test_wide_seed_ensemble_round_trip(
    splits: tuple[pd.DataFrame, ...], fast_config: DeepSettings, tmp_path: Path
) -> None:
    train, valid, test = splits
    fast_config.wide, fast_config.ensemble, fast_config.schedule = True, 2, "onecycle"
    model = fit(train, valid, fast_config)
    assert model.module is not None and len(model.members) == 1 and model.module.wide is not None
    p = model.predict_proba(test)
    assert np.all((p > 0) & (p < 1))
    loaded = joblib.load(save_estimator(model, tmp_path / "deep.joblib"))
    assert len(loaded.members) == 1
    np.testing.assert_allclose(loaded.predict_proba(test), p, rtol=1e-6)


def _with_engagement(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Opens and clicks as a send log carries them: never on hold-outs, sometimes unknown."""
    rng = np.random.default_rng(seed)
    sent = frame["channel"].ne("none").to_numpy()
    opened = pd.array(sent & (rng.random(len(frame)) < 0.4), dtype="boolean")
    opened[rng.random(len(frame)) < 0.1] = pd.NA
    return frame.assign(opened=opened, clicked=sent & (rng.random(len(frame)) < 0.1))


def test_opens_and_clicks_are_learned_beside_the_label_but_never_read(
    splits: tuple[pd.DataFrame, ...], fast_config: DeepSettings
) -> None:
    train, valid, test = (_with_engagement(s, i) for i, s in enumerate(splits))
    model = fit(train, valid, fast_config)
    assert model.arch["auxiliary_outcomes"] == ["opened", "clicked"]
    assert model.module is not None and model.module.head.auxiliary is not None
    # Outcomes of the send itself are targets, not inputs: scoring never has them.
    assert not {"opened", "clicked"} & set(model.input_schema())
    p = model.predict_proba(test.drop(columns=["opened", "clicked"]))
    assert np.all((p > 0) & (p < 1))
    # The auxiliary loss changes what the shared layers learn.
    fast_config.auxiliary_weight = 0.0
    plain = fit(train, valid, fast_config)
    assert plain.arch["auxiliary_outcomes"] == [] and plain.module.head.auxiliary is None
    assert not np.allclose(plain.predict_proba(test), p)


def test_auxiliary_loss_skips_hold_outs_and_unknown_outcomes(
    splits: tuple[pd.DataFrame, ...], fast_config: DeepSettings
) -> None:
    train, valid, _ = (_with_engagement(s, i) for i, s in enumerate(splits))
    model = fit(train, valid, fast_config)
    encoded = model.featurizer.encode(train, with_label=True)
    weight = encoded.rows["aux_weight"].numpy()
    holdout = train["channel"].eq("none").to_numpy()
    assert (weight[holdout] == 0).all() and (weight[~holdout, 1] == 1).all()
    assert (weight[train["opened"].isna().to_numpy(), 0] == 0).all()


def test_tower_embeddings_for_segments_and_drift(splits: tuple[pd.DataFrame, ...], fast_config: DeepSettings) -> None:
    train, valid, test = splits
    model = fit(train, valid, fast_config)
    customers = test.drop_duplicates("customer_id")
    # A customer-features frame (no action or message columns) is enough.
    profile = customers[
        [
            c
            for c in customers.columns
            if not c.startswith("msg_")
            and c not in ("message_id", "channel", "send_hour", "weekday", "recent_sends_7d")
        ]
    ]
    vectors = model.customer_embeddings(profile)
    assert vectors.shape == (len(profile), fast_config.hidden) and np.isfinite(vectors).all()
    np.testing.assert_allclose(model.customer_embeddings(profile, batch_size=7), vectors, rtol=1e-5, atol=1e-6)
    messages = test.dropna(subset=["message_id"]).drop_duplicates("message_id")
    assert model.message_embeddings(messages).shape == (len(messages), fast_config.hidden)
    assert len(np.unique(vectors.round(5), axis=0)) > 1


def test_transformer_sequence_encoder_trains_reproducibly_and_round_trips(
    splits: tuple[pd.DataFrame, ...], fast_config: DeepSettings, tmp_path: Path
) -> None:
    train, valid, test = splits
    config = fast_config.model_copy(update={"sequence_encoder": "transformer"})
    model = fit(train, valid, config)
    assert model.arch["sequence_encoder"] == "transformer"
    p = model.predict_proba(test)
    np.testing.assert_allclose(fit(train, valid, config).predict_proba(test), p, rtol=1e-5)
    loaded = joblib.load(save_estimator(model, tmp_path / "deep.joblib"))
    np.testing.assert_allclose(loaded.predict_proba(test), p, rtol=1e-6)


def test_integrated_gradients_split_each_logit_among_the_modalities(
    splits: tuple[pd.DataFrame, ...], fast_config: DeepSettings
) -> None:
    import torch

    from models.attribution import per_row_batch

    train, valid, test = splits
    model = fit(train, valid, fast_config)
    rows = test.head(40)
    ig = model.modality_attributions(rows)
    assert set(ig["mean_abs"]) == {
        "customer profile",
        "event sequence",
        "reviews",
        "offer attributes",
        "message text",
        "banner",
        "context",
    }
    assert ig["rows"] == 40 and ig["max_completeness_error"] < 1e-3  # attributions add up to the logit change
    assert any(v > 0 for v in ig["mean_abs"].values())
    # The per-row layout Captum integrates over predicts exactly what the factorised batches do.
    with torch.no_grad():
        logits = model.module(per_row_batch(model.featurizer.encode(rows)))
    np.testing.assert_allclose(torch.sigmoid(logits).numpy(), model.predict_proba(rows), rtol=1e-5)


def test_small_training_sets_get_batches_that_leave_enough_steps_per_epoch() -> None:
    settings = DeepSettings()  # batch 2048 at most, 256 at least, about 48 steps an epoch
    assert settings.batch_rows(120_000) == 2048  # the demo world: the largest batch
    assert settings.batch_rows(14_941) == 14_941 // 48  # a 2,500-customer world
    assert settings.batch_rows(8_953) == settings.batch_rows(100) == 256  # never below the floor
    assert DeepSettings(batch_size=128).batch_rows(1_000_000) == 128  # the floor never exceeds the largest batch
    for rows in (15_000, 40_000, 98_000):  # between the bounds an epoch takes the configured number of steps
        assert rows // settings.batch_rows(rows) >= settings.min_steps_per_epoch
    with pytest.raises(ValueError):
        DeepSettings(min_steps_per_epoch=0)
