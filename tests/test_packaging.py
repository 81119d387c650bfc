"""The project's packaging: environment.yml and pyproject.toml agree; the CLI entry points work."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# conda-forge names that differ from PyPI's.
CONDA_TO_PYPI = {"python-duckdb": "duckdb", "matplotlib-base": "matplotlib"}
NOT_PACKAGES = {"python", "pip"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    assert match, requirement
    return _norm(match.group(1)), match.group(2).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        reqs.extend(extra)
    return dict(_split(r) for r in reqs)


def environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep["pip"]:
                if not pip_dep.startswith("-e"):
                    name, spec = _split(pip_dep)
                    out[name] = spec
            continue
        name, spec = _split(dep)
        name = CONDA_TO_PYPI.get(name, name)
        if name not in NOT_PACKAGES:
            out[name] = spec
    return out


def test_environment_yml_and_pyproject_agree() -> None:
    ours, conda = pyproject_requirements(), environment_requirements()
    assert sorted(set(ours) - set(conda)) == [], "in pyproject.toml, missing from environment.yml"
    assert sorted(set(conda) - set(ours)) == [], "in environment.yml, missing from pyproject.toml"
    differing = {n: (ours[n], conda[n]) for n in ours if ours[n] != conda[n]}
    assert differing == {}, "version bounds differ (pyproject, environment.yml)"


def test_environment_pins_python_311_and_installs_the_project() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_deps = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert "-e ." in pip_deps


def test_console_script_and_module_entry_point() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"pixity": "pixity.cli:main"}
    by_module = subprocess.run(
        [sys.executable, "-m", "pixity", "--version"], capture_output=True, text=True, timeout=60
    )
    assert by_module.returncode == 0, by_module.stderr
    assert re.match(r"^pixity \d+\.\d+\.\d+", by_module.stdout)
    script = Path(sys.executable).with_name("pixity")
    by_script = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert by_script.stdout == by_module.stdout


def test_ci_runs_make_test_only() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[-1] == "exec make test"


def test_top_level_layout() -> None:
    for name in ["pixity", "runners", "notebooks", "data", "tests", "bench"]:
        assert (ROOT / name).is_dir(), name
    for name in ["environment.yml", "pyproject.toml", "Makefile", "README.md", ".ci/run"]:
        assert (ROOT / name).is_file(), name
    assert (ROOT / "data" / "README.md").is_file()
