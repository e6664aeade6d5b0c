"""The store's schema comes from Alembic revisions, on SQLite and PostgreSQL: they build exactly
what the ORM models describe, a database made before migrations existed is adopted, and
several processes migrating at once do not trip over each other."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import inspect, text

from rakuten_assets.core.migrations import (
    BASELINE_REVISION,
    alembic_config,
    current_revision,
    head_revision,
    upgrade_schema,
)
from rakuten_assets.core.store import Base, ProductStore, make_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_database_url")


def test_revisions_build_exactly_the_schema_the_models_describe(store_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(store_url)
    assert upgrade_schema(engine) == head_revision()
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []


def test_a_database_made_before_migrations_is_adopted_and_upgraded(store_url):
    from alembic import command

    engine = make_engine(store_url)
    # What `create_all` made before migrations existed: the tables of the first revision.
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), BASELINE_REVISION)
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("INSERT INTO load_batches (batch_key, source, loaded_at, rows_offered, "
                          "rows_accepted, rows_rejected, rejections_json) VALUES "
                          "('old', 'old', CURRENT_TIMESTAMP, 1, 1, 0, '{}')"))
    assert current_revision(engine) is None
    assert upgrade_schema(engine) == head_revision()
    store = ProductStore(store_url)
    assert store.count_batches() == 1  # the rows of the old database are kept
    assert "champion_moves" in inspect(engine).get_table_names()


def test_processes_migrating_at_once_all_see_the_newest_schema(store_url, tmp_path):
    """Three processes (as the API, the hub and Dagster start together) on one new database."""
    code = ("import sys; from rakuten_assets.core.migrations import upgrade_schema; "
            "from rakuten_assets.core.store import make_engine; "
            "print(upgrade_schema(make_engine(sys.argv[1])))")

    def run(_):
        return subprocess.run([sys.executable, "-c", code, store_url], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(run, range(3)))
    for proc in results:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip() == head_revision()


def test_rakuten_migrate_reports_the_revision(rakuten_env):
    from typer.testing import CliRunner

    from rakuten_assets.cli.app import app

    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()}" in result.output


def test_migrating_an_unreachable_database_is_one_clear_line(rakuten_env, monkeypatch):
    from typer.testing import CliRunner

    from rakuten_assets.cli.app import app
    from rakuten_assets.core.settings import get_settings

    monkeypatch.setenv("RAKUTEN_DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:1/none")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 2
    assert "cannot migrate the store" in result.output and "secret" not in result.output
    assert "Traceback" not in result.output


def test_a_migration_that_fails_half_way_leaves_nothing_behind(store_url, monkeypatch):
    """sqlite3 commits before each CREATE TABLE by itself: an interrupted first migration left
    load_batches without a revision stamp, and every later start failed with "table
    load_batches already exists" (seen in CI, the API's gauges and a test migrating at once)."""
    from alembic.operations import Operations

    real = Operations.create_index
    calls = []

    def fail_second_index(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("interrupted")
        return real(self, *args, **kwargs)

    engine = make_engine(store_url)
    monkeypatch.setattr(Operations, "create_index", fail_second_index)
    with pytest.raises(RuntimeError, match="interrupted"):
        upgrade_schema(engine)
    assert not set(inspect(engine).get_table_names()) & set(Base.metadata.tables), "half a schema left"
    monkeypatch.setattr(Operations, "create_index", real)
    assert upgrade_schema(engine) == head_revision()
