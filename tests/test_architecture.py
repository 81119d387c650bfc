"""Dependencies point inward: the core imports no feed, store, notebook or network code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "pixity"
CORE = [
    "pixity.domain",
    "pixity.markettime",
    "pixity.bars",
    "pixity.clock",
    "pixity.errors",
    "pixity.frames",
    "pixity.sample",
    "pixity.strategies",
    "pixity.strategies.reference",
    "pixity.strategies.pixity_meta.strategy",
    "pixity.broker",
    "pixity.broker.paper",
]
# What the core must never reach, directly or through another module.
FORBIDDEN = [
    "pixity.stores",
    "pixity.feeds",
    "pixity.cli",
    "sqlite3",
    "duckdb",
    "pyarrow",
    "papermill",
    "websockets",
    "ipywidgets",
    "voila",
]

BLOCKER = """
import importlib.abc, sys
FORBIDDEN = {forbidden!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
            raise ImportError("core imported " + name)
        return None
sys.meta_path.insert(0, Block())
import {module}
"""


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_with_adapters_absent(module: str) -> None:
    code = BLOCKER.format(forbidden=FORBIDDEN, module=module)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_no_getattr_with_default_on_data_in_pixity() -> None:
    """The old pipeline lost bar_ts to getattr(signal, 'bar_ts', None); allow none at all."""
    offenders = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "getattr"
                and len(node.args) == 3
            ):
                offenders.append(f"{path.relative_to(PKG.parent)}:{node.lineno}")
    assert offenders == []


def test_core_never_reads_the_wall_clock() -> None:
    offenders = []
    for module in CORE:
        base = PKG.joinpath(*module.split(".")[1:])
        paths = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
        for path in paths:
            offenders += _wall_clock_reads(path)
    # clock.WallClock is the one place allowed to read it.
    assert [o for o in offenders if not o.startswith("clock.py")] == []


def _wall_clock_reads(path: Path) -> list[str]:
    offenders = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow", "today", "time"}:
            value = node.value
            if isinstance(value, ast.Name) and value.id in {"datetime", "date", "time"}:
                offenders.append(f"{path.name}:{node.lineno} {value.id}.{node.attr}")
    return offenders
