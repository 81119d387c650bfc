"""The meta-model: a scikit-learn classifier of candidate features -> "the target comes first".

The input is ``MODEL_FEATURES``: the bar features of ``features`` in their order, then the
candidate's ``side`` (+1 BUY, -1 SELL), so one model serves both directions. The directional
features (``DIRECTIONAL``: distances, returns, the day's move, and the RSI less 50) enter
multiplied by ``side``, so the model sees them in the trade's direction: "the close is 2 ATR
beyond EMA(50) in the direction of the trade" is one value for a BUY and a SELL alike.
``model_row`` and ``design_matrix`` are the one definition of that input.

The classifier is ``StandardScaler`` -> ``LogisticRegression`` (L2, lbfgs) in a ``Pipeline``:
deterministic, a few hundred bytes, and scored per candidate in microseconds by
``LinearScorer``, which evaluates the fitted pipeline's formula directly (a test holds it
equal to ``predict_proba``). That matters: the live session and the backtest score one
candidate at a time, where ``predict_proba`` costs about half a millisecond of input checks.
Gradient-boosted trees were tried on the sample market and did no better out of sample (both
are at chance there: the sample market is a random walk). Probabilities are not recalibrated:
logistic regression fits them by log loss, the walk-forward Brier score reports how good they
are, and with under two thousand candidates a held-out calibration fold would cost the model
more than it would fix. Training and validation run on one thread (``single_thread``), so the
BLAS sums, and hence the artifact's bytes, do not depend on the machine's core count.

Validation is purged walk-forward (``walk_forward``): candidates in time order are cut into
``folds + 1`` consecutive blocks; each block after the first is predicted by a model trained
only on earlier candidates, leaving out every training candidate whose label could reach into
the test block (its exit at or after the block's start, or its entry within the label
horizon, the embargo, before it).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from pixity.errors import ConfigError, InvalidValueError
from pixity.strategies.pixity_meta.features import FEATURE_NAMES

MODEL_FEATURES: tuple[str, ...] = (*FEATURE_NAMES, "side")
DIRECTIONAL: tuple[str, ...] = (
    "dist_ema20", "dist_ema50", "dist_vwap", "ret_1", "ret_4", "day_move", "rsi_14",
)  # fmt: skip
_CENTRE = {"rsi_14": 50.0}  # subtracted before orienting
MODEL_INPUT: dict[str, object] = {"directional": list(DIRECTIONAL), "centre": dict(_CENTRE)}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelParams:
    """The classifier's hyper-parameters and the number of walk-forward folds."""

    c: float = 0.1  # inverse L2 strength
    max_iter: int = 1000
    folds: int = 4

    def __post_init__(self) -> None:
        if not 0.0 < self.c <= 1e6 or not 10 <= self.max_iter <= 100_000:
            raise ConfigError(f"model parameters out of range: {self}")
        if not 1 <= self.folds <= 20:
            raise ConfigError(f"folds {self.folds} must be in 1..20")

    def as_dict(self) -> dict[str, float]:
        """Return the parameters as plain values (for metadata)."""
        return asdict(self)


def build_model(params: ModelParams) -> Pipeline:
    """Return an unfitted classifier pipeline."""
    classifier = LogisticRegression(C=params.c, max_iter=params.max_iter, solver="lbfgs")
    return Pipeline([("scale", StandardScaler()), ("classifier", classifier)])


def model_row(features: Mapping[str, float], side: int) -> list[float]:
    """Return one candidate's model input, in ``MODEL_FEATURES`` order."""
    row = []
    for name in FEATURE_NAMES:
        value = features[name]
        if name in _ORIENTED:
            value = (value - _CENTRE.get(name, 0.0)) * side
        row.append(value)
    row.append(float(side))
    return row


_ORIENTED = frozenset(DIRECTIONAL)


class LinearScorer:
    """``predict_proba(...)[:, 1]`` of a fitted scaler + logistic-regression pipeline, fast."""

    __slots__ = ("_coef", "_intercept", "_mean", "_scale")

    def __init__(self, model: Pipeline) -> None:
        steps = dict(model.named_steps) if isinstance(model, Pipeline) else {}
        scaler, classifier = steps.get("scale"), steps.get("classifier")
        if not isinstance(scaler, StandardScaler) or not isinstance(classifier, LogisticRegression):
            raise InvalidValueError(f"not a scaler + logistic-regression pipeline: {model!r}")
        self._mean = np.asarray(scaler.mean_, dtype="float64")
        self._scale = np.asarray(scaler.scale_, dtype="float64")
        self._coef = np.asarray(classifier.coef_[0], dtype="float64")
        self._intercept = float(classifier.intercept_[0])

    def probability(self, row: list[float]) -> float:
        """Return P(label = 1) for one model input row."""
        scaled = (np.asarray(row, dtype="float64") - self._mean) / self._scale
        z = float(np.dot(scaled, self._coef)) + self._intercept
        # The logistic function, written so that neither branch overflows.
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run the block with OpenMP and BLAS on one thread (deterministic on any machine)."""
    with threadpool_limits(limits=1):
        yield


def design_matrix(features: pd.DataFrame, side: pd.Series | np.ndarray) -> np.ndarray:
    """Return the model input of many candidates: rows of ``model_row``, vectorised."""
    missing = [name for name in FEATURE_NAMES if name not in features.columns]
    if missing:
        raise InvalidValueError(f"feature frame lacks {missing}")
    values = features.loc[:, list(FEATURE_NAMES)].to_numpy(dtype="float64", copy=True)
    sides = np.asarray(side, dtype="float64")
    for name in DIRECTIONAL:
        i = FEATURE_NAMES.index(name)
        values[:, i] = (values[:, i] - _CENTRE.get(name, 0.0)) * sides
    matrix = np.hstack([values, sides.reshape(-1, 1)])
    if not np.isfinite(matrix).all():
        raise InvalidValueError("model input has NaN or infinite values: are all rows warm?")
    return matrix


def fit_model(x: np.ndarray, y: np.ndarray, params: ModelParams) -> Pipeline:
    """Return the classifier fitted on ``x`` -> ``y`` (0/1), deterministically."""
    if len(np.unique(y)) < 2:
        raise InvalidValueError("training labels need both classes (some targets hit, some not)")
    model = build_model(params)
    with single_thread():
        model.fit(x, y)
    return model


def probabilities(model: Pipeline, x: np.ndarray) -> np.ndarray:
    """Return P(label = 1) for each row of ``x``."""
    with single_thread():
        proba: np.ndarray = model.predict_proba(x)[:, 1]
    return proba


@dataclass(frozen=True, slots=True)
class Split:
    """One walk-forward fold: boolean masks over the candidates and the test block's start."""

    test_from: pd.Timestamp
    train: np.ndarray
    test: np.ndarray


def purged_splits(times: pd.DataFrame, folds: int, embargo: timedelta) -> list[Split]:
    """Return the walk-forward folds of candidates with ``bar_ts`` (entry) and ``exit_ts``.

    A fold tests one block of consecutive candidates and trains on earlier ones only, purged
    of any whose label could reach into the block: exit at or after its start, or entry less
    than ``embargo`` (the label horizon) before it.
    """
    entry = times["bar_ts"].reset_index(drop=True)
    exit_ = times["exit_ts"].reset_index(drop=True)
    bounds = _block_bounds(entry, folds)
    return [
        Split(
            test_from=start,
            train=((exit_ < start) & (entry < start - embargo)).to_numpy(),
            test=((entry >= start) & (entry < stop)).to_numpy(),
        )
        for start, stop in itertools.pairwise(bounds)
    ]


def walk_forward(
    x: np.ndarray,
    y: np.ndarray,
    times: pd.DataFrame,
    params: ModelParams,
    *,
    threshold: float,
    embargo: timedelta,
) -> dict[str, object]:
    """Return purged walk-forward metrics: per fold and pooled over the test blocks.

    ``times`` has ``bar_ts`` (entry) and ``exit_ts`` for each row of ``x``. A fold whose
    training part lacks a class is skipped.
    """
    folds, tested, scores = [], [], []
    for split in purged_splits(times, params.folds, embargo):
        train, test = split.train, split.test
        if len(np.unique(y[train])) < 2 or not test.any():
            continue
        p = probabilities(fit_model(x[train], y[train], params), x[test])
        header = {"test_from": str(split.test_from), "n_train": int(train.sum())}
        folds.append(header | _score(y[test], p, threshold))
        tested.append(np.flatnonzero(test))
        scores.append(p)
    if not folds:
        raise InvalidValueError("too few candidates for a walk-forward validation")
    index = np.concatenate(tested)
    return {"folds": folds, "pooled": _score(y[index], np.concatenate(scores), threshold)}


def _block_bounds(entry: pd.Series, folds: int) -> list[pd.Timestamp]:
    """Return the start of each test block and, last, a time after every candidate."""
    ordered = entry.sort_values(kind="stable").reset_index(drop=True)
    cuts = [ordered.iloc[len(ordered) * k // (folds + 1)] for k in range(1, folds + 1)]
    bounds = sorted(set(cuts))
    return [*bounds, ordered.iloc[-1] + pd.Timedelta(days=1)]


def _score(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float | int | None]:
    taken = p >= threshold
    both = len(np.unique(y)) == 2
    return {
        "n": len(y),
        "base_rate": _round(float(y.mean())),
        "auc": _round(float(roc_auc_score(y, p))) if both else None,
        "brier": _round(float(brier_score_loss(y, p))),
        "taken": int(taken.sum()),
        "hit_rate": _round(float(y[taken].mean())) if taken.any() else None,
    }


def _round(value: float) -> float:
    return round(value, 6)


def metrics_table(metrics: Mapping[str, object]) -> pd.DataFrame:
    """Return the per-fold metrics and the pooled row as one table (for notebooks)."""
    folds = metrics["folds"]
    pooled = metrics["pooled"]
    if not isinstance(folds, list) or not isinstance(pooled, dict):
        raise InvalidValueError("metrics need 'folds' (a list) and 'pooled' (a mapping)")
    table = pd.DataFrame([*folds, {"test_from": "pooled"} | pooled])
    return table.set_index("test_from")
