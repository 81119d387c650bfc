"""The meta-model's research tables agree with the training entry points they sit on."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from pixity.errors import InvalidValueError
from pixity.markettime import nse_calendar
from pixity.research import meta
from pixity.strategies.pixity_meta.artifact import artifact_dir, load_artifact, save_artifact
from pixity.strategies.pixity_meta.features import batch_features
from pixity.strategies.pixity_meta.labels import triple_barrier_labels
from pixity.strategies.pixity_meta.model import ModelParams
from pixity.strategies.pixity_meta.rule import batch_rule
from pixity.strategies.pixity_meta.train_default import sample_bars_15m
from pixity.strategies.pixity_meta.training import Trained, TrainingParams, train

SYMBOLS = ("NSE_EQ|INE002A01018", "NSE_EQ|INE040A01034")
PARAMS = TrainingParams(model=ModelParams(folds=3))


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    days = nse_calendar().trading_days(date(2025, 1, 1), date(2025, 1, 31))[:16]
    return sample_bars_15m(SYMBOLS, days, 7)


@pytest.fixture(scope="module")
def trained(bars: pd.DataFrame) -> Trained:
    return train(bars, PARAMS, version="test-v1", source="test")


def test_walk_forward_predictions_score_as_the_metadatas_pooled_metrics(trained: Trained) -> None:
    predictions = meta.walk_forward_predictions(trained.candidates, PARAMS)
    pooled = trained.metadata["metrics"]["pooled"]
    folds = trained.metadata["metrics"]["folds"]
    assert len(predictions) == pooled["n"]
    assert predictions.groupby("fold", sort=True).size().tolist() == [f["n"] for f in folds]
    assert round(float(roc_auc_score(predictions["label"], predictions["p"])), 6) == pooled["auc"]
    brier = round(float(brier_score_loss(predictions["label"], predictions["p"])), 6)
    assert brier == pooled["brier"]
    assert int((predictions["p"] >= PARAMS.threshold).sum()) == pooled["taken"]


def test_the_reliability_table_bins_every_prediction_once() -> None:
    predictions = pd.DataFrame({"p": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "label": [0, 0, 1, 0, 1, 1]})
    table = meta.reliability_table(predictions, bins=3)
    assert table.index.tolist() == [1, 2, 3]
    assert table["n"].tolist() == [2, 2, 2]
    assert table["mean_predicted"].tolist() == [0.15, 0.35, 0.55]
    assert table["observed"].tolist() == [0.0, 0.5, 1.0]
    assert table["gap"].tolist() == [-0.15, 0.15, 0.45]
    assert (table["p_low"] <= table["p_high"]).all()
    tied = meta.reliability_table(predictions.assign(p=0.3), bins=3)
    assert tied["n"].tolist() == [6]  # tied quantiles merge
    with pytest.raises(InvalidValueError, match="bins"):
        meta.reliability_table(predictions, bins=0)


def test_candidate_counts_and_label_summary_add_up(bars: pd.DataFrame, trained: Trained) -> None:
    features = batch_features(bars)
    decided = batch_rule(features, PARAMS.rule)
    counts = meta.candidate_counts(features, decided)
    assert counts.index.tolist() == [*sorted(SYMBOLS), "all"]
    assert counts.loc["all", "bars"] == len(bars)
    assert counts.loc["all", "buy"] + counts.loc["all", "sell"] == len(trained.candidates)
    labels = triple_barrier_labels(features, decided["candidate"], PARAMS.barrier)
    summary = meta.label_summary(labels)
    assert summary["n"].sum() == len(labels)
    assert set(summary.index.get_level_values("side")) <= {"BUY", "SELL"}
    hits = summary.xs("target", level="reason")["label_rate"]
    assert (hits == 1.0).all()


def test_the_artifact_card_shows_what_was_saved(trained: Trained, tmp_path: Path) -> None:
    folder = save_artifact(artifact_dir(tmp_path, "test-v1"), trained.model, trained.metadata)
    card = meta.artifact_card(load_artifact(folder))
    assert card["version"] == "test-v1"
    assert card["path"] == str(folder)
    assert card["feature_names"] == trained.metadata["feature_names"]
    assert card["pooled_metrics"] == trained.metadata["metrics"]["pooled"]
    assert card["training"]["symbols"] == sorted(SYMBOLS)
    assert card["data_sha256"] == trained.metadata["training"]["data_sha256"]
    assert len(card["model_sha256"]) == len(card["model_fingerprint"]) == 64
    assert set(card["library_versions"]) >= {"numpy", "scikit-learn"}
