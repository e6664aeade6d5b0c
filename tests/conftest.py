"""Fixtures every test group shares: an isolated project home per test, a fresh PostgreSQL
database, a registered champion. Helpers live in `tests/support/`."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.support.env import PG_ADMIN_URL, TEST_ENV, end_mlflow_runs, project_env_keys
from tests.support.postgres import pg_available, pg_execute
from tests.support.models import register_model, small_labelled_frame


@pytest.fixture
def rakuten_env(tmp_path, monkeypatch):
    """A fresh embedded default in a temporary RAKUTEN_HOME; returns the Settings."""
    for key in project_env_keys():
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RAKUTEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # nothing may land in the checkout (mlruns/ and the like)
    from rakuten_assets.core.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_dirs()
    yield settings
    get_settings.cache_clear()
    end_mlflow_runs()


@pytest.fixture
def pg_database_url():
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} in CI")
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    name = f"rakuten_test_{uuid.uuid4().hex[:10]}"
    pg_execute(PG_ADMIN_URL, f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    pg_execute(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def champion(rakuten_env):
    """A registered champion trained on a small synthetic catalogue; returns (settings, version)."""
    version = register_model(rakuten_env, small_labelled_frame())
    return rakuten_env, version
