"""Model artifacts: save/load round trip, refusals, hashes, and the shipped default."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pm_support import sample_frame

from pixity.errors import ConfigError
from pixity.strategies.pixity_meta import training
from pixity.strategies.pixity_meta.artifact import (
    DEFAULT_DIR,
    METADATA_FILE,
    MODEL_FILE,
    artifact_dir,
    file_sha256,
    frame_sha256,
    load_artifact,
    save_artifact,
)
from pixity.strategies.pixity_meta.features import FEATURE_NAMES
from pixity.strategies.pixity_meta.model import MODEL_FEATURES, ModelParams, design_matrix
from pixity.strategies.pixity_meta.training import Trained, TrainingParams, float_platform, train

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def trained() -> Trained:
    return train(
        sample_frame(), TrainingParams(model=ModelParams(folds=2)), version="t1", source="s"
    )


@pytest.fixture
def saved(tmp_path: Path, trained: Trained) -> Path:
    return save_artifact(artifact_dir(tmp_path, "t1"), trained.model, trained.metadata)


def edit_metadata(folder: Path, change: dict[str, Any]) -> None:
    path = folder / METADATA_FILE
    metadata = json.loads(path.read_text())
    path.write_text(json.dumps(metadata | change))


def test_save_and_load_round_trip(saved: Path, trained: Trained, tmp_path: Path) -> None:
    assert saved == tmp_path / "models" / "pixityAI_meta" / "t1"
    artifact = load_artifact(saved)
    stored = dict(artifact.metadata)
    assert stored.pop("model_sha256") == file_sha256(saved / MODEL_FILE)
    assert stored.pop("model_fingerprint") and stored.pop("model_file") == MODEL_FILE
    assert stored == json.loads(json.dumps(trained.metadata))
    assert artifact.version == "t1" and artifact.threshold == trained.metadata["threshold"]
    assert artifact.barrier.as_dict() == trained.metadata["params"]["barrier"]
    table = trained.candidates
    expected = trained.model.predict_proba(design_matrix(table, table["side"]))[:, 1]
    for i, (_, row) in enumerate(table.head(10).iterrows()):
        features = {n: float(row[n]) for n in FEATURE_NAMES}
        assert artifact.probability(features, int(row["side"])) == pytest.approx(
            expected[i], abs=1e-12
        )


def test_saving_twice_gives_the_same_bytes(tmp_path: Path, trained: Trained) -> None:
    a = save_artifact(tmp_path / "a", trained.model, trained.metadata)
    b = save_artifact(tmp_path / "b", trained.model, trained.metadata)
    for name in (MODEL_FILE, METADATA_FILE):
        assert file_sha256(a / name) == file_sha256(b / name)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ([n for n in MODEL_FEATURES if n != "rsi_14"], r"missing features \['rsi_14'\]"),
        ([*MODEL_FEATURES, "vwap_slope"], r"unknown features \['vwap_slope'\]"),
        (
            ["dist_ema50", "dist_ema20", *MODEL_FEATURES[2:]],
            "another order .position 0: artifact 'dist_ema50', code 'dist_ema20'",
        ),
    ],
    ids=["missing", "extra", "order"],
)
def test_loading_refuses_a_feature_mismatch(saved: Path, names: list[str], message: str) -> None:
    edit_metadata(saved, {"feature_names": names})
    with pytest.raises(ConfigError, match=message):
        load_artifact(saved)


def test_loading_refuses_other_feature_parameters(saved: Path) -> None:
    metadata = json.loads((saved / METADATA_FILE).read_text())
    metadata["params"]["features"]["ema_fast"] = 21
    (saved / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ConfigError, match="features parameters .*'ema_fast': 21"):
        load_artifact(saved)


def test_loading_refuses_unusable_barrier_parameters(saved: Path) -> None:
    metadata = json.loads((saved / METADATA_FILE).read_text())
    metadata["params"]["barrier"]["horizon"] = 0
    (saved / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ConfigError, match="unusable rule/barrier parameters: horizon 0"):
        load_artifact(saved)


def test_loading_refuses_a_model_file_that_is_not_the_described_one(saved: Path) -> None:
    (saved / MODEL_FILE).write_bytes((saved / MODEL_FILE).read_bytes() + b"\0")
    with pytest.raises(ConfigError, match="sha256 differs"):
        load_artifact(saved)


def test_a_missing_artifact_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no pixityAI_meta model artifact.*make model"):
        load_artifact(tmp_path / "nothing-here")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / METADATA_FILE).write_text("{}")
    with pytest.raises(ConfigError, match=r"model.joblib missing.*train_default"):
        load_artifact(tmp_path / "half")


@pytest.mark.parametrize("version", ["", "../up", "a/b", ".."])
def test_artifact_versions_are_plain_folder_names(tmp_path: Path, version: str) -> None:
    with pytest.raises(ConfigError, match="plain folder name"):
        artifact_dir(tmp_path, version)


def test_frame_hash_ignores_row_order_and_sees_every_price() -> None:
    frame = sample_frame()
    digest = frame_sha256(frame)
    assert frame_sha256(frame.sample(frac=1.0, random_state=1)) == digest
    changed = frame.copy()
    changed.loc[17, "close"] += 0.05
    assert frame_sha256(changed) != digest


def test_the_shipped_artifact_is_small_loadable_and_packaged() -> None:
    artifact = load_artifact(DEFAULT_DIR)
    assert artifact.version == "default-sample-v1"
    assert sum(p.stat().st_size for p in DEFAULT_DIR.iterdir()) < 1_000_000
    meta = artifact.metadata
    assert meta["training"]["days"] == 60 and len(meta["training"]["symbols"]) == 6
    assert len(meta["training"]["data_sha256"]) == 64
    assert set(meta["library_versions"]) >= {"scikit-learn", "numpy", "joblib"}
    platform = meta["float_platform"]  # what says whether a rebuild can match it byte for byte
    assert set(platform) == {"machine", "numpy_simd", "blas"}
    assert platform["numpy_simd"] != "unknown" and "openblas" in platform["blas"]
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["pixity.strategies.pixity_meta"]
    shipped = {p.name for p in DEFAULT_DIR.iterdir()}
    assert shipped == {MODEL_FILE, METADATA_FILE}
    assert all(any(Path("default_model", n).match(g) for g in package_data) for n in shipped)


def test_float_platform_says_unknown_where_numpy_keeps_no_dispatch_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    here = float_platform()
    assert here["numpy_simd"] not in ("", "unknown")

    def missing(name: str) -> object:
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(training.importlib, "import_module", missing)
    elsewhere = float_platform()
    assert elsewhere["numpy_simd"] == "unknown"  # never a guess that could match another CPU
    assert elsewhere["machine"] == here["machine"] and elsewhere["blas"] == here["blas"]
