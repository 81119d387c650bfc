"""Research tables of the ``pixityAI_meta`` meta-model, over ``training``'s own entry points.

- ``candidate_counts``: per symbol, the 15m bars, the warm ones, and the rule's BUY/SELL
  candidates (``rule.batch_rule`` over ``features.batch_features``);
- ``label_summary``: the triple-barrier labels by side and exit reason;
- ``walk_forward_predictions``: the out-of-sample probability of every candidate that
  ``model.walk_forward`` tests, fold by fold, with the same splits, purge, embargo and fits
  ``training.train`` uses (so its pooled scores are the metadata's);
- ``reliability_table``: binned predicted probability against the observed rate;
- ``artifact_card``: what a loaded artifact says about itself (features, training, metrics,
  hashes).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from pixity.errors import InvalidValueError
from pixity.strategies.pixity_meta.artifact import Artifact
from pixity.strategies.pixity_meta.model import (
    design_matrix,
    fit_model,
    probabilities,
    purged_splits,
)
from pixity.strategies.pixity_meta.rule import BAR_MINUTES, BUY, SELL
from pixity.strategies.pixity_meta.training import TrainingParams


def candidate_counts(features: pd.DataFrame, decided: pd.DataFrame) -> pd.DataFrame:
    """Return per symbol: bars, warm bars, BUY and SELL candidates of ``batch_rule``."""
    frame = pd.DataFrame(
        {
            "symbol": features["symbol"],
            "warm": features["warm"].astype(bool),
            "buy": decided["candidate"] == BUY,
            "sell": decided["candidate"] == SELL,
        }
    )
    table = frame.groupby("symbol", sort=True).agg(
        bars=("warm", "size"), warm=("warm", "sum"), buy=("buy", "sum"), sell=("sell", "sum")
    )
    table.loc["all"] = table.sum()
    return table


def label_summary(labels: pd.DataFrame) -> pd.DataFrame:
    """Return the labels by side and exit reason: count, hit rate, mean bars held and return.

    The return is ``ret`` (the side's log return from entry to exit) in basis points.
    """
    frame = labels.assign(side=labels["side"].map({BUY: "BUY", SELL: "SELL"}))
    table = frame.groupby(["side", "reason"], sort=True).agg(
        n=("label", "size"),
        label_rate=("label", "mean"),
        mean_held=("held", "mean"),
        mean_ret_bps=("ret", "mean"),
    )
    table["mean_ret_bps"] *= 1e4
    return table.round(4)


def walk_forward_predictions(table: pd.DataFrame, params: TrainingParams) -> pd.DataFrame:
    """Return each walk-forward test candidate's out-of-sample probability ``p``, by fold.

    ``table`` is ``Trained.candidates`` (the candidates ``training.train`` fitted, in its
    order). Folds are ``model.walk_forward``'s: a fold whose training part lacks a class is
    skipped there and here.
    """
    ordered = table.sort_values(["bar_ts", "symbol"], kind="stable").reset_index(drop=True)
    x = design_matrix(ordered, ordered["side"])
    y = ordered["label"].to_numpy(dtype="int64")
    embargo = timedelta(minutes=BAR_MINUTES * params.barrier.horizon)
    parts = []
    for split in purged_splits(ordered[["bar_ts", "exit_ts"]], params.model.folds, embargo):
        if len(np.unique(y[split.train])) < 2 or not split.test.any():
            continue
        model = fit_model(x[split.train], y[split.train], params.model)
        rows = ordered.loc[split.test, ["symbol", "bar_ts", "side", "label"]]
        parts.append(rows.assign(fold=str(split.test_from), p=probabilities(model, x[split.test])))
    if not parts:
        raise InvalidValueError("too few candidates for a walk-forward validation")
    return pd.concat(parts, ignore_index=True)


def reliability_table(predictions: pd.DataFrame, bins: int = 5) -> pd.DataFrame:
    """Return predicted against observed in ``bins`` bins of equal count (quantiles of ``p``).

    Columns: the bin's ``p_low`` and ``p_high``, ``n``, ``mean_predicted``, ``observed`` (the
    rate of label 1) and ``gap`` (observed - predicted). Tied quantiles merge bins.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 50:
        raise InvalidValueError(f"bins {bins!r} must be an int in 1..50")
    p = predictions["p"].astype("float64")
    if p.isna().any():
        raise InvalidValueError("predictions hold NaN probabilities")
    # One distinct value has no quantile bins to cut: it is one bin.
    codes = pd.qcut(p, q=bins, labels=False, duplicates="drop") if p.nunique() > 1 else 0
    frame = pd.DataFrame({"bin": codes, "p": p, "label": predictions["label"]})
    table = frame.groupby("bin", sort=True).agg(
        p_low=("p", "min"),
        p_high=("p", "max"),
        n=("label", "size"),
        mean_predicted=("p", "mean"),
        observed=("label", "mean"),
    )
    table["gap"] = table["observed"] - table["mean_predicted"]
    table.index = pd.Index(range(1, len(table) + 1), name="bin")
    return table.round(4)


_TRAINING_KEYS = (
    "symbols", "first_bar_ts", "last_bar_ts", "days", "bars_15m", "candidates", "positives",
)  # fmt: skip


def artifact_card(artifact: Artifact) -> dict[str, Any]:
    """Return what ``artifact`` says about itself: version, features, training, metrics, hashes."""
    meta = artifact.metadata
    training = meta["training"]
    return {
        "version": artifact.version,
        "path": str(artifact.path),
        "feature_names": list(meta["feature_names"]),
        "threshold": artifact.threshold,
        "params": {k: meta["params"][k] for k in ("rule", "barrier", "model")},
        "training": {k: training[k] for k in _TRAINING_KEYS},
        "pooled_metrics": meta["metrics"]["pooled"],
        "data_sha256": training["data_sha256"],
        "model_sha256": meta["model_sha256"],
        "model_fingerprint": meta["model_fingerprint"],
        "library_versions": meta["library_versions"],
    }
