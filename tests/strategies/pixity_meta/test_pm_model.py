"""The meta-model: deterministic training, purged walk-forward, the fast scorer."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from pm_support import TEST_DAY, at, sample_frame

from pixity.errors import InvalidValueError
from pixity.strategies.pixity_meta.features import FEATURE_NAMES
from pixity.strategies.pixity_meta.model import (
    DIRECTIONAL,
    MODEL_FEATURES,
    LinearScorer,
    ModelParams,
    design_matrix,
    fit_model,
    metrics_table,
    model_row,
    probabilities,
    purged_splits,
)
from pixity.strategies.pixity_meta.training import Trained, TrainingParams, train

SMALL = TrainingParams(model=ModelParams(folds=2))


def small_training() -> Trained:
    return train(sample_frame(), SMALL, version="test", source="sample")


def test_training_is_deterministic() -> None:
    first, second = small_training(), small_training()
    assert first.metadata == second.metadata
    a, b = first.model.named_steps["classifier"], second.model.named_steps["classifier"]
    assert np.array_equal(a.coef_, b.coef_) and np.array_equal(a.intercept_, b.intercept_)
    x = design_matrix(first.candidates, first.candidates["side"])
    assert np.array_equal(probabilities(first.model, x), probabilities(second.model, x))


def test_training_records_what_it_learned_from() -> None:
    trained = small_training()
    meta = trained.metadata
    assert meta["feature_names"] == list(MODEL_FEATURES)
    assert meta["training"]["candidates"] == len(trained.candidates) > 20
    assert meta["training"]["positives"] == int(trained.candidates["label"].sum()) > 0
    assert meta["training"]["last_bar_ts"].startswith(TEST_DAY.isoformat())
    pooled = meta["metrics"]["pooled"]
    assert 0.0 <= pooled["brier"] <= 1.0 and 0 <= pooled["taken"] <= pooled["n"]
    assert pooled["auc"] is None or 0.0 <= pooled["auc"] <= 1.0
    table = metrics_table(meta["metrics"])
    assert table.index[-1] == "pooled" and {"auc", "brier", "hit_rate"} <= set(table.columns)


def test_purged_splits_never_train_on_labels_that_reach_the_test_block() -> None:
    # A candidate every 30 minutes; each label lasts 3 bars (45 minutes), so it overlaps the
    # next candidate's: the splits must purge (the function knows nothing of sessions).
    entries = [at(TEST_DAY, 9, 15) + timedelta(minutes=30 * i) for i in range(48)]
    times = pd.DataFrame({"bar_ts": pd.to_datetime(entries).tz_convert("Asia/Kolkata")})
    times["exit_ts"] = times["bar_ts"] + pd.Timedelta(minutes=45)
    embargo = timedelta(minutes=45)
    splits = purged_splits(times, folds=3, embargo=embargo)
    assert len(splits) == 3
    covered = np.zeros(len(times), dtype=bool)
    for split in splits:
        train, test = times[split.train], times[split.test]
        assert len(train) and len(test) and not (split.train & split.test).any()
        assert (train["exit_ts"] < split.test_from).all()
        assert (train["bar_ts"] < split.test_from - embargo).all()
        assert (test["bar_ts"] >= split.test_from).all()
        # Purged: the candidates just before the block (whose labels run into it) are left out.
        just_before = times["bar_ts"].between(split.test_from - embargo, split.test_from, "left")
        assert just_before.any() and not split.train[just_before.to_numpy()].any()
        covered |= split.test
    assert covered[len(times) // 4 :].all() and not covered[: len(times) // 4 - 1].any()


def test_the_fast_scorer_equals_predict_proba() -> None:
    trained = small_training()
    table = trained.candidates
    x = design_matrix(table, table["side"])
    expected = trained.model.predict_proba(x)[:, 1]
    scorer = LinearScorer(trained.model)
    for i, (_, row) in enumerate(table.iterrows()):
        features = {name: float(row[name]) for name in FEATURE_NAMES}
        one = model_row(features, int(row["side"]))
        assert one == x[i].tolist()  # the one-row and many-row inputs are the same numbers
        assert scorer.probability(one) == pytest.approx(expected[i], abs=1e-12)


def test_directional_features_enter_in_the_trades_direction() -> None:
    features = {name: 0.5 for name in FEATURE_NAMES} | {"rsi_14": 70.0}
    buy, sell = model_row(features, 1), model_row(features, -1)
    for i, name in enumerate(MODEL_FEATURES[:-1]):
        if name in DIRECTIONAL:
            assert sell[i] == -buy[i]
        else:
            assert sell[i] == buy[i]
    assert buy[MODEL_FEATURES.index("rsi_14")] == 20.0  # centred on 50
    assert (buy[-1], sell[-1]) == (1.0, -1.0)


def test_fitting_needs_both_classes_and_finite_inputs() -> None:
    with pytest.raises(InvalidValueError, match="both classes"):
        fit_model(np.zeros((10, len(MODEL_FEATURES))), np.zeros(10, dtype=int), ModelParams())
    frame = pd.DataFrame({name: [np.nan] for name in FEATURE_NAMES})
    with pytest.raises(InvalidValueError, match="NaN"):
        design_matrix(frame, np.array([1]))
