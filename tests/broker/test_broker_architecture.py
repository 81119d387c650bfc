"""pixity.broker is core: it imports only the domain, errors, market time and clocks."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

BROKER = Path(__file__).resolve().parents[2] / "pixity" / "broker"
ALLOWED_PIXITY = {"pixity.domain", "pixity.errors", "pixity.markettime", "pixity.clock"}
FORBIDDEN = [
    "pixity.stores",
    "pixity.feeds",
    "pixity.ingest",
    "pixity.cli",
    "sqlite3",
    "duckdb",
    "pyarrow",
    "papermill",
    "websockets",
    "ipywidgets",
    "voila",
]

BLOCKER = f"""
import importlib.abc, json, sys
FORBIDDEN = {FORBIDDEN!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
            raise ImportError("pixity.broker imported " + name)
        return None
sys.meta_path.insert(0, Block())
import pixity.broker, pixity.broker.paper
print(json.dumps(sorted(m for m in sys.modules if m.startswith("pixity."))))
"""


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def test_broker_imports_with_adapters_absent() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded = {m for m in json.loads(result.stdout) if not m.startswith("pixity.broker")}
    assert loaded <= ALLOWED_PIXITY | {"pixity"}


def test_broker_modules_import_only_allowed_pixity_modules() -> None:
    offenders = []
    for path in sorted(BROKER.glob("*.py")):
        for module in _imports(path):
            inside = module == "pixity.broker" or module.startswith("pixity.broker.")
            if module.startswith("pixity") and not inside and module not in ALLOWED_PIXITY:
                offenders.append(f"{path.name}: {module}")
    assert offenders == []


def test_broker_never_reads_the_wall_clock() -> None:
    offenders = []
    for path in sorted(BROKER.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow", "today"}:
                offenders.append(f"{path.name}:{node.lineno} .{node.attr}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "time"
                and (isinstance(node.value, ast.Name) and node.value.id == "time")
            ):
                offenders.append(f"{path.name}:{node.lineno} time.time")
    assert offenders == []
