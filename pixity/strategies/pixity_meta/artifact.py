"""Model artifacts of ``pixityAI_meta``: a folder with ``model.joblib`` and ``metadata.json``.

Research saves them in ``<data_dir>/models/pixityAI_meta/<version>/``; the default artifact,
trained from the bundled sample market by ``train_default``, ships in the package
(``default_model/``). The metadata names the features in order, the training range and
symbols, the metrics, the parameters (features, rule, barriers, model), the threshold, the
library versions, the sha256 of the training bars' canonical bytes, and the sha256 and a
fingerprint of the model. It holds no timestamp: the same data and code give the same bytes.

Loading refuses, with a ``ConfigError`` that says what differs, an artifact whose feature
list or feature parameters are not this code's, or whose model file is not the one the
metadata names. A joblib file is a pickle, which runs code when loaded: load only artifacts
you or this package made.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from pixity.errors import ConfigError, InvalidValueError
from pixity.strategies.pixity_meta import STRATEGY_ID
from pixity.strategies.pixity_meta.features import FEATURE_PARAMS
from pixity.strategies.pixity_meta.labels import BarrierParams
from pixity.strategies.pixity_meta.model import (
    MODEL_FEATURES,
    MODEL_INPUT,
    LinearScorer,
    model_row,
    probabilities,
)
from pixity.strategies.pixity_meta.rule import RuleParams

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
FORMAT = 1
DEFAULT_DIR = Path(__file__).resolve().parent / "default_model"
BUILD_HINT = (
    "build the default one with `make model` "
    "(python -m pixity.strategies.pixity_meta.train_default [--out DIR]) "
    "or train one in notebooks/research/02_meta_model.ipynb"
)
_REQUIRED = ("version", "threshold", "params", "model_sha256")
_BAR_HASH_COLUMNS = ("symbol", "bar_ts", "open", "high", "low", "close", "volume", "tick_count")


def artifact_dir(data_dir: str | os.PathLike[str], version: str) -> Path:
    """Return the folder of artifact ``version`` under ``data_dir``."""
    if not version or any(c in version for c in "/\\") or version in {".", ".."}:
        raise ConfigError(f"model version {version!r} must be a plain folder name")
    return Path(data_dir) / "models" / STRATEGY_ID / version


@dataclass(frozen=True, slots=True)
class Artifact:
    """A loaded model with its metadata."""

    model: Pipeline
    metadata: Mapping[str, Any]
    path: Path
    scorer: LinearScorer | None  # the fast path for a linear pipeline, else predict_proba

    @property
    def version(self) -> str:
        """Return the artifact's version."""
        return str(self.metadata["version"])

    @property
    def threshold(self) -> float:
        """Return the threshold the artifact was validated with."""
        return float(self.metadata["threshold"])

    @property
    def barrier(self) -> BarrierParams:
        """Return the barriers the labels were made with (the strategy exits by them)."""
        return BarrierParams(**self.metadata["params"]["barrier"])

    @property
    def rule(self) -> RuleParams:
        """Return the rule parameters the candidates were made with."""
        return RuleParams(**self.metadata["params"]["rule"])

    def probability(self, features: Mapping[str, float], side: int) -> float:
        """Return the model's probability that a ``side`` candidate with ``features`` wins."""
        row = model_row(features, side)
        if self.scorer is not None:
            proba = self.scorer.probability(row)
        else:
            proba = float(self.model.predict_proba(np.asarray([row], dtype="float64"))[0, 1])
        return min(1.0, max(0.0, proba))


# ---------------------------------------------------------------- hashes


def frame_sha256(bars: pd.DataFrame) -> str:
    """Return the sha256 of a bar frame's canonical bytes (sorted rows, fixed text form)."""
    frame = bars.loc[:, list(_BAR_HASH_COLUMNS)].sort_values(["symbol", "bar_ts"], kind="stable")
    frame = frame.assign(bar_ts=frame["bar_ts"].dt.tz_convert("Asia/Kolkata"))
    text = frame.to_csv(index=False, lineterminator="\n", float_format=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    """Return the sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_fingerprint(model: Pipeline) -> str:
    """Return a hash of the model's parameters and its predictions on a fixed grid.

    Unlike the pickle's bytes, it does not change with the library versions that wrote the
    file; two models with the same fingerprint predict the same to 9 decimals on the grid.
    """
    grid = _fingerprint_grid()
    proba = probabilities(model, grid)
    params = {k: repr(v) for k, v in sorted(model.get_params(deep=True).items()) if "__" in k}
    payload = json.dumps({"params": params, "proba": [f"{p:.9f}" for p in proba]})
    return hashlib.sha256(payload.encode()).hexdigest()


def _fingerprint_grid() -> np.ndarray:
    rng = np.random.default_rng(20250101)
    grid = rng.normal(0.0, 1.5, size=(512, len(MODEL_FEATURES)))
    names = list(MODEL_FEATURES)
    grid[:, names.index("ret_1")] *= 0.003
    grid[:, names.index("ret_4")] *= 0.006
    grid[:, names.index("minutes")] = rng.integers(0, 25, 512) * 15.0
    grid[:, names.index("rsi_14")] = rng.uniform(0, 100, 512)
    grid[:, names.index("side")] = rng.choice([-1.0, 1.0], 512)
    return grid


# ---------------------------------------------------------------- save and load


def save_artifact(folder: Path, model: Pipeline, metadata: Mapping[str, Any]) -> Path:
    """Write ``model`` and ``metadata`` (plus the model's hashes) into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder / MODEL_FILE
    joblib.dump(model, model_path, compress=3, protocol=4)
    full = dict(metadata) | {
        "model_file": MODEL_FILE,
        "model_sha256": file_sha256(model_path),
        "model_fingerprint": model_fingerprint(model),
    }
    (folder / METADATA_FILE).write_text(dumps_metadata(full))
    return folder


def dumps_metadata(metadata: Mapping[str, Any]) -> str:
    """Return the canonical JSON text of ``metadata`` (sorted keys, fixed layout)."""
    return json.dumps(metadata, sort_keys=True, indent=2, ensure_ascii=True) + "\n"


def load_artifact(folder: str | os.PathLike[str]) -> Artifact:
    """Load the artifact in ``folder``, refusing one that does not fit this code."""
    path = Path(folder)
    metadata = _read_metadata(path)
    model_path = path / MODEL_FILE
    if file_sha256(model_path) != metadata["model_sha256"]:
        raise ConfigError(
            f"{model_path} is not the model {METADATA_FILE} describes (sha256 differs): {BUILD_HINT}"
        )
    model = joblib.load(model_path)
    if int(model.n_features_in_) != len(MODEL_FEATURES):
        raise ConfigError(
            f"model at {path} takes {model.n_features_in_} features, the code gives {len(MODEL_FEATURES)}"
        )
    try:
        scorer: LinearScorer | None = LinearScorer(model)
    except InvalidValueError:
        scorer = None
    return Artifact(model=model, metadata=metadata, path=path, scorer=scorer)


def _read_metadata(path: Path) -> dict[str, Any]:
    for name in (METADATA_FILE, MODEL_FILE):
        if not (path / name).is_file():
            raise ConfigError(
                f"no {STRATEGY_ID} model artifact at {path} ({name} missing): {BUILD_HINT}"
            )
    try:
        metadata = json.loads((path / METADATA_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path / METADATA_FILE}: {exc}") from exc
    if not isinstance(metadata, dict):
        raise ConfigError(f"{path / METADATA_FILE} does not hold a JSON object")
    check_metadata(metadata, where=str(path))
    return metadata


def check_metadata(metadata: Mapping[str, Any], *, where: str) -> None:
    """Refuse metadata whose format, strategy, feature list or feature parameters differ."""
    if metadata.get("format") != FORMAT or metadata.get("strategy_id") != STRATEGY_ID:
        raise ConfigError(f"{where} is not a format-{FORMAT} {STRATEGY_ID} artifact")
    names = metadata.get("feature_names")
    if not isinstance(names, list) or names != list(MODEL_FEATURES):
        raise ConfigError(
            f"model artifact at {where} does not fit this code: {_feature_diff(names)}"
        )
    missing = [key for key in _REQUIRED if key not in metadata]
    if missing:
        raise ConfigError(f"model artifact at {where} lacks metadata {missing}: {BUILD_HINT}")
    _check_params(metadata, where)


def _check_params(metadata: Mapping[str, Any], where: str) -> None:
    threshold = metadata["threshold"]
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 <= threshold <= 1
    ):
        raise ConfigError(f"model artifact at {where} has threshold {threshold!r}, not in [0, 1]")
    params = metadata["params"]
    for part, ours in (("features", FEATURE_PARAMS), ("model_input", MODEL_INPUT)):
        if params.get(part) != ours:
            raise ConfigError(
                f"model artifact at {where} was built with {part} parameters {params.get(part)}, "
                f"the code uses {ours}"
            )
    try:
        RuleParams(**params["rule"])
        BarrierParams(**params["barrier"])
    except (TypeError, KeyError, ConfigError) as exc:
        raise ConfigError(
            f"model artifact at {where} has unusable rule/barrier parameters: {exc}"
        ) from None


def _feature_diff(names: object) -> str:
    if not isinstance(names, list):
        return f"its feature_names is {names!r}, not a list"
    ours: Sequence[str] = MODEL_FEATURES
    missing = [n for n in ours if n not in names]
    extra = [n for n in names if n not in ours]
    parts = []
    if missing:
        parts.append(f"missing features {missing}")
    if extra:
        parts.append(f"unknown features {extra}")
    if not parts and len(names) != len(ours):
        parts.append(f"{len(names)} feature names (some repeated), the code has {len(ours)}")
    if not parts:
        first = next(i for i, (a, b) in enumerate(zip(names, ours, strict=True)) if a != b)
        parts.append(
            f"features in another order (position {first}: artifact {names[first]!r}, code {ours[first]!r})"
        )
    return "; ".join(parts) + f"; the code's features are {list(ours)}"
