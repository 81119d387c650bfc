"""The data-directory layout of DESIGN.md."""

from __future__ import annotations

from pathlib import Path

from pixity.stores import StorePaths


def test_store_paths_follow_the_design(tmp_path: Path) -> None:
    paths = StorePaths(str(tmp_path))
    assert paths.data_dir == tmp_path
    assert paths.market == tmp_path / "live_buffer" / "market.db"
    assert paths.signals == tmp_path / "signals" / "signals.db"
    assert paths.config == tmp_path / "config" / "config.db"
    assert paths.paper == tmp_path / "paper" / "paper.db"
    assert paths.history == tmp_path / "history"
    assert paths.runs == tmp_path / "runs"
    assert paths.models == tmp_path / "models"
    assert list(tmp_path.iterdir()) == []  # nothing is created by naming it


def test_store_paths_compare_by_folder() -> None:
    assert StorePaths("data") == StorePaths(Path("data"))
    assert StorePaths("data") != StorePaths("other")
    assert len({StorePaths("data"), StorePaths(Path("data"))}) == 1
    assert repr(StorePaths("data")) == "StorePaths('data')"
