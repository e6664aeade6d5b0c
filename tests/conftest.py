"""Shared fixtures: an isolated RAKUTEN_HOME per test, real-data paths, PostgreSQL databases,
and a registered champion model for the serving and hub tests."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pandas as pd
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = PROJECT_ROOT.parent / "shared" / "data" / "rakuten"
PG_ADMIN_URL = os.environ.get("RAKUTEN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

_ENV_KEYS = [k for k in os.environ if k.startswith("RAKUTEN_")] + ["MLFLOW_TRACKING_URI", "DAGSTER_HOME"]


def real_data_path(name: str) -> Path:
    path = REAL_DATA / name
    if not path.is_file():
        pytest.skip(f"real Rakuten data not found at {path} (the shared data folder beside the project)")
    return path


@pytest.fixture
def rakuten_env(tmp_path, monkeypatch):
    """A fresh embedded default in a temporary RAKUTEN_HOME; returns the Settings."""
    for key in _ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RAKUTEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    monkeypatch.setenv("RAKUTEN_SYNTHETIC_ROWS", "3000")
    monkeypatch.setenv("RAKUTEN_F1_FLOOR", "0.3")
    monkeypatch.chdir(tmp_path)  # nothing may land in the checkout (mlruns/ and the like)
    from rakuten_assets.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_dirs()
    yield settings
    get_settings.cache_clear()
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("postgresql://", "postgresql://", 1), connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture
def pg_database_url():
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} in CI")
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    import psycopg

    name = f"rakuten_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def small_labelled_frame(n_rows: int = 3000, seed: int = 7) -> pd.DataFrame:
    from rakuten_assets.synthetic import generate_catalogue

    return generate_catalogue(n_rows, seed=seed)


def register_model(settings, frame: pd.DataFrame, *, alias: bool = True, pipeline=None,
                   reason: str = "test fixture") -> str:
    """Log + register a pipeline (fitting build_classifier() on `frame` unless a fitted
    `pipeline` is given), optionally make it champion. Returns the version string."""
    import mlflow

    from rakuten_assets.model import build_classifier
    from rakuten_assets.registry import ModelRegistry, ensure_experiment
    from rakuten_assets.training import TEXT_COLUMNS, evaluate, log_model

    experiment_id = ensure_experiment(settings)
    if pipeline is None:
        pipeline = build_classifier().fit(frame[TEXT_COLUMNS], frame["prdtypecode"])
    with mlflow.start_run(experiment_id=experiment_id):
        result = evaluate(frame["prdtypecode"], pipeline.predict(frame[TEXT_COLUMNS]))
        mlflow.log_metrics(result.metrics())
        info = log_model(pipeline, registered_model_name=settings.model_name,
                         input_example=frame[TEXT_COLUMNS].head(2))
    version = str(info.registered_model_version)
    if alias:
        ModelRegistry(settings).set_champion(version, reason=reason)
    return version


@pytest.fixture
def champion(rakuten_env):
    """A registered champion trained on a small synthetic catalogue; returns (settings, version)."""
    version = register_model(rakuten_env, small_labelled_frame())
    return rakuten_env, version
