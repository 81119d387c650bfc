"""Train a ``pixityAI_meta`` artifact from 15m bars: features -> rule -> labels -> model.

``candidates`` gives the research view (every candidate with its features and label);
``train`` validates (purged walk-forward), fits the final model on every candidate, and
returns it with the metadata ``artifact.save_artifact`` writes. Deterministic: the same bars
and parameters give the same model and metadata.
"""

from __future__ import annotations

import importlib
import platform
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_info, threadpool_limits

from pixity.errors import ConfigError, InvalidValueError
from pixity.strategies.pixity_meta import STRATEGY_ID
from pixity.strategies.pixity_meta.artifact import FORMAT, frame_sha256
from pixity.strategies.pixity_meta.features import FEATURE_PARAMS, batch_features
from pixity.strategies.pixity_meta.labels import BarrierParams, triple_barrier_labels
from pixity.strategies.pixity_meta.model import (
    MODEL_FEATURES,
    MODEL_INPUT,
    ModelParams,
    design_matrix,
    fit_model,
    walk_forward,
)
from pixity.strategies.pixity_meta.rule import BAR_MINUTES, RuleParams, batch_rule


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingParams:
    """Everything that decides the artifact besides the bars."""

    rule: RuleParams = field(default_factory=RuleParams)
    barrier: BarrierParams = field(default_factory=BarrierParams)
    model: ModelParams = field(default_factory=ModelParams)
    threshold: float = 0.22

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold {self.threshold} must be in [0, 1]")


def candidates(bars: pd.DataFrame, rule: RuleParams, barrier: BarrierParams) -> pd.DataFrame:
    """Return every candidate of 15m ``bars`` with its features and triple-barrier label."""
    frame = batch_features(bars)
    decided = batch_rule(frame, rule)
    labels = triple_barrier_labels(frame, decided["candidate"], barrier)
    rows = frame.loc[decided["candidate"] != 0].reset_index(drop=True)
    features = rows.loc[:, list(MODEL_FEATURES[:-1])]
    return pd.concat([labels, features], axis=1)


@dataclass(frozen=True, slots=True)
class Trained:
    """A fitted model, its metadata, and the candidates it learned from."""

    model: Pipeline
    metadata: dict[str, Any]
    candidates: pd.DataFrame


def train(bars: pd.DataFrame, params: TrainingParams, *, version: str, source: str) -> Trained:
    """Validate and fit the meta-model on 15m ``bars``; ``source`` says where they came from."""
    table = candidates(bars, params.rule, params.barrier)
    if table.empty:
        raise InvalidValueError("the rule found no candidates in these bars")
    table = table.sort_values(["bar_ts", "symbol"], kind="stable").reset_index(drop=True)
    x = design_matrix(table, table["side"])
    y = table["label"].to_numpy(dtype="int64")
    embargo = timedelta(minutes=BAR_MINUTES * params.barrier.horizon)
    # One BLAS thread: how a BLAS splits a product between threads changes its rounding, and
    # the same data must give the same model bytes on a laptop of any core count.
    with threadpool_limits(limits=1, user_api="blas"):
        metrics = walk_forward(
            x,
            y,
            table[["bar_ts", "exit_ts"]],
            params.model,
            threshold=params.threshold,
            embargo=embargo,
        )
        model = fit_model(x, y, params.model)
    metadata = _metadata(bars, table, params, metrics, version=version, source=source)
    return Trained(model=model, metadata=metadata, candidates=table)


def _metadata(
    bars: pd.DataFrame,
    table: pd.DataFrame,
    params: TrainingParams,
    metrics: dict[str, object],
    *,
    version: str,
    source: str,
) -> dict[str, Any]:
    ts = bars["bar_ts"].dt.tz_convert("Asia/Kolkata")
    return {
        "format": FORMAT,
        "strategy_id": STRATEGY_ID,
        "version": version,
        "feature_names": list(MODEL_FEATURES),
        "threshold": params.threshold,
        "params": {
            "features": dict(FEATURE_PARAMS),
            "model_input": dict(MODEL_INPUT),
            "rule": params.rule.as_dict(),
            "barrier": params.barrier.as_dict(),
            "model": params.model.as_dict(),
            "estimator": "Pipeline[StandardScaler, LogisticRegression], uncalibrated",
        },
        "training": {
            "source": source,
            "symbols": sorted(bars["symbol"].unique().tolist()),
            "first_bar_ts": ts.min().isoformat(),
            "last_bar_ts": ts.max().isoformat(),
            "days": int(ts.dt.date.nunique()),
            "bars_15m": len(bars),
            "candidates": len(table),
            "positives": int(table["label"].sum()),
            "data_sha256": frame_sha256(bars),
        },
        "metrics": metrics,
        "library_versions": library_versions(),
        "float_platform": float_platform(),
    }


def float_platform() -> dict[str, str]:
    """Return what, beside the library versions, decides the fitted floats' last bits.

    numpy picks its kernels (sums, ``exp``, ...) by the CPU's SIMD features and OpenBLAS its
    own by the CPU model; a wider vector sums in another order and rounds differently. The
    model then differs in the last bits of its coefficients (its predictions agree to far
    below 1e-9), so two builds are byte-for-byte comparable only where this is the same.
    """
    try:  # numpy's own record of what it dispatches on (numpy.show_runtime prints it)
        umath = importlib.import_module("numpy._core._multiarray_umath")
        dispatch, found = umath.__cpu_dispatch__, umath.__cpu_features__
    except (ImportError, AttributeError):  # a numpy that keeps them elsewhere: say so
        simd = "unknown"
    else:
        simd = " ".join(f for f in dispatch if found.get(f)) or "baseline"
    blas = sorted(
        f"{info.get('internal_api')} {info.get('version')} {info.get('architecture')}"
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    )
    return {"machine": platform.machine(), "numpy_simd": simd, "blas": ", ".join(blas)}


def library_versions() -> dict[str, str]:
    """Return the versions that decide the model file's bytes."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "joblib": joblib.__version__,
    }
