"""`make model` rebuilds the shipped default artifact bit for bit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pixity.strategies.pixity_meta.artifact import (
    DEFAULT_DIR,
    METADATA_FILE,
    MODEL_FILE,
    file_sha256,
)
from pixity.strategies.pixity_meta.training import float_platform, library_versions


@pytest.mark.slow
def test_retraining_reproduces_the_shipped_artifact(tmp_path: Path) -> None:
    # In a fresh interpreter, as `make model` runs it: pickle names some numpy functions by
    # the first module found to hold them, and which that is depends on what the process has
    # already unpickled (loading a model imports numpy's compatibility modules), so bytes
    # are only comparable between fresh processes. The fingerprint does not depend on it.
    done = subprocess.run(
        [sys.executable, "-m", "pixity.strategies.pixity_meta.train_default", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "walk-forward" in done.stdout
    shipped = json.loads((DEFAULT_DIR / METADATA_FILE).read_text())
    rebuilt = json.loads((tmp_path / METADATA_FILE).read_text())
    assert rebuilt["model_fingerprint"] == shipped["model_fingerprint"]
    same_floats = shipped.get("float_platform") == float_platform()
    if shipped["library_versions"] == library_versions() and same_floats:
        # The same libraries on the same kind of CPU: the same bytes, model and metadata
        # alike (no timestamps).
        for name in (MODEL_FILE, METADATA_FILE):
            assert file_sha256(tmp_path / name) == file_sha256(DEFAULT_DIR / name), name
    else:
        # Other library versions pickle differently, and another CPU's kernels round the
        # coefficients' last bits differently; the model's predictions on the
        # fingerprint grid, the training data's hash and the metrics must still agree.
        volatile = {"library_versions", "float_platform", "model_sha256"}
        assert {k: v for k, v in rebuilt.items() if k not in volatile} == {
            k: v for k, v in shipped.items() if k not in volatile
        }
