"""Where the project and the real data are, and an isolated project home for module-scoped
fixtures (the `rakuten_env` fixture in conftest.py is the per-test one)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = PROJECT_ROOT.parent / "shared" / "data" / "rakuten"
PG_ADMIN_URL = os.environ.get("RAKUTEN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Settings the tests set themselves: whatever the shell (or an enclosing fixture) holds is removed.
OTHER_KEYS = ["MLFLOW_TRACKING_URI", "DAGSTER_HOME", "PROMETHEUS_MULTIPROC_DIR"]


def project_env_keys() -> list[str]:
    return [k for k in os.environ if k.startswith("RAKUTEN_")] + OTHER_KEYS
# Small and fast by default: a 3,000-row synthetic catalogue, a floor any model passes.
TEST_ENV = {"RAKUTEN_SYNTHETIC_ROWS": "3000", "RAKUTEN_F1_FLOOR": "0.3"}


def real_data_path(name: str) -> Path:
    path = REAL_DATA / name
    if not path.is_file():
        pytest.skip(f"real Rakuten data not found at {path} (the shared data folder beside the project)")
    return path


def end_mlflow_runs() -> None:
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


@contextlib.contextmanager
def project_home(root: Path, **env: str):
    """An isolated RAKUTEN_HOME under `root` (plus `env`, e.g. RAKUTEN_ADMIN_TOKEN) for the
    duration of the block, the current folder moved there; yields the Settings."""
    from rakuten_assets.core.settings import get_settings

    with pytest.MonkeyPatch.context() as mp:
        for key in project_env_keys():
            mp.delenv(key, raising=False)
        mp.setenv("RAKUTEN_HOME", str(root / "home"))
        mp.setenv("DAGSTER_HOME", str(root / "home" / "dagster"))
        for key, value in {**TEST_ENV, **env}.items():
            mp.setenv(key, value)
        mp.chdir(root)  # nothing may land in the checkout (mlruns/ and the like)
        get_settings.cache_clear()
        settings = get_settings()
        settings.ensure_dirs()
        try:
            yield settings
        finally:
            get_settings.cache_clear()
            end_mlflow_runs()
