"""The research notebooks are thin, executed, built by ``_build.py`` and sanitized for nbval.

nbval itself runs them (``testpaths`` holds ``notebooks/research``); these checks keep them
what the conventions ask: a ``parameters`` cell of plain assignments, then calls into pixity,
no function or class defined in a notebook.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from nbval.plugin import get_sanitize_patterns

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "notebooks" / "research"
NAMES = ["01_data", "02_meta_model", "03_backtest"]
CHECK = "nbval-check-output"
SANITIZE = HERE / "nbval_sanitize.cfg"


def load(name: str) -> nbformat.NotebookNode:
    return nbformat.read(HERE / f"{name}.ipynb", as_version=4)


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("research_build", HERE / "_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", NAMES)
def test_a_parameters_cell_of_assignments_comes_first(name: str) -> None:
    nb = load(name)
    assert nb.metadata.kernelspec.name == "python3"
    first = code_cells(nb)[0]
    assert first.metadata.get("tags") == ["parameters"]
    body = ast.parse(first.source).body
    assigned = [node for node in body if isinstance(node, ast.Assign)]
    assert body and assigned == body
    names = {t.id for node in assigned for t in node.targets if isinstance(t, ast.Name)}
    assert "data_dir" in names


@pytest.mark.parametrize("name", NAMES)
def test_no_function_or_class_is_defined_in_a_notebook(name: str) -> None:
    defined = [
        f"{cell.id}: {type(node).__name__}"
        for cell in code_cells(load(name))
        for node in ast.walk(ast.parse(cell.source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
    ]
    assert defined == []


@pytest.mark.parametrize("name", NAMES)
def test_stored_outputs_are_a_runs_and_the_tables_are_checked(name: str) -> None:
    cells = code_cells(load(name))
    assert all(cell.execution_count is not None for cell in cells), "execute the notebook"
    errors = [c.id for c in cells for o in c.outputs if o.output_type == "error"]
    assert errors == []
    checked = [c for c in cells if CHECK in c.metadata.get("tags", [])]
    assert len(checked) >= 4 and all(c.outputs for c in checked)


@pytest.mark.parametrize("name", NAMES)
def test_the_notebook_is_what_build_writes(name: str) -> None:
    module = builder()
    built = module.build(name, module.NOTEBOOKS[name])
    stored = load(name)
    assert [(c.id, c.cell_type, c.source, c.metadata.get("tags")) for c in stored.cells] == [
        (c.id, c.cell_type, c.source, c.metadata.get("tags")) for c in built.cells
    ], "run notebooks/research/_build.py, then execute the notebooks"


def sanitize(text: str) -> str:
    for regex, replace in get_sanitize_patterns(SANITIZE.read_text()):
        text = re.sub(regex, replace, text)
    return text


@pytest.mark.parametrize("name", NAMES)
def test_scratch_paths_and_versions_in_checked_outputs_are_sanitized(name: str) -> None:
    for cell in code_cells(load(name)):
        if CHECK not in cell.metadata.get("tags", []):
            continue
        for output in cell.outputs:
            text = output.get("text", "") + output.get("data", {}).get("text/plain", "")
            clean = sanitize(text)
            assert "pixity-research-" not in clean, cell.id
            assert not re.search(r"'numpy': '\d", clean), cell.id


def test_pytest_runs_the_research_notebooks_with_the_sanitizer() -> None:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "notebooks/research" in options["testpaths"]
    assert (
        "notebooks" not in options["testpaths"]
    )  # live_session and scanner are not regression notebooks
    addopts = options["addopts"].split()
    assert "--nbval-lax" in addopts
    assert addopts[addopts.index("--nbval-sanitize-with") + 1] == str(SANITIZE.relative_to(ROOT))
    assert len(get_sanitize_patterns(SANITIZE.read_text())) >= 5
