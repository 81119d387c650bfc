"""`make model` rebuilds the shipped default artifact bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixity.strategies.pixity_meta.artifact import (
    DEFAULT_DIR,
    METADATA_FILE,
    MODEL_FILE,
    file_sha256,
)
from pixity.strategies.pixity_meta.train_default import main
from pixity.strategies.pixity_meta.training import library_versions


@pytest.mark.slow
def test_retraining_reproduces_the_shipped_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert "walk-forward" in capsys.readouterr().out
    shipped = json.loads((DEFAULT_DIR / METADATA_FILE).read_text())
    rebuilt = json.loads((tmp_path / METADATA_FILE).read_text())
    assert rebuilt["model_fingerprint"] == shipped["model_fingerprint"]
    if shipped["library_versions"] == library_versions():
        # The same libraries: the same bytes, model and metadata alike (no timestamps).
        for name in (MODEL_FILE, METADATA_FILE):
            assert file_sha256(tmp_path / name) == file_sha256(DEFAULT_DIR / name), name
    else:
        # Other library versions pickle differently; the model's predictions on the
        # fingerprint grid, the training data's hash and the metrics must still agree.
        volatile = {"library_versions", "model_sha256"}
        assert {k: v for k, v in rebuilt.items() if k not in volatile} == {
            k: v for k, v in shipped.items() if k not in volatile
        }
