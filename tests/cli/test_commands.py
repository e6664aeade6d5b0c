"""The `rakuten` command line writes through the system's one path: ingestion is a run of
Dagster's `ingest_job` (so the `products` asset's history holds it), alias moves go through
`move_champion` (recorded) and reach Dagster as `promoted_model` events."""

from __future__ import annotations

import shutil

import pytest
from dagster import DagsterInstance
from typer.testing import CliRunner

from rakuten_assets.cli.app import app
from rakuten_assets.defs.constants import PRODUCTS, PROMOTED_MODEL
from tests.support.env import real_data_path


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result


def instance(settings) -> DagsterInstance:
    return DagsterInstance.from_config(str(settings.dagster_home_dir))


def test_ingesting_files_is_an_ingest_job_run_in_dagsters_history(rakuten_env, tmp_path):
    x = shutil.copy(real_data_path("X_train_sample.csv"), tmp_path / "X.csv")
    y = shutil.copy(real_data_path("Y_train_sample.csv"), tmp_path / "Y.csv")
    result = invoke("ingest", "--x", str(x), "--y", str(y))
    assert result.exit_code == 0, result.output
    assert "(ingest_job): SUCCESS" in result.output and "201 stored" in result.output
    with instance(rakuten_env) as dagster:
        event = dagster.get_latest_materialization_event(PRODUCTS)
        metadata = event.asset_materialization.metadata
        assert metadata["total_products"].value == 201 and metadata["source"].value == "uploaded files"
        run = dagster.get_run_by_id(event.run_id)
        assert run.job_name == "ingest_job" and run.tags["rakuten/trigger"] == "cli"
    # The same files again: a run too, and nothing stored twice.
    again = invoke("ingest", "--x", str(x), "--y", str(y))
    assert again.exit_code == 0 and "already loaded" in again.output


def test_ingest_refuses_labels_without_products_and_missing_files(rakuten_env, tmp_path):
    result = invoke("ingest", "--y", str(tmp_path / "Y.csv"))
    assert result.exit_code == 2 and "--y needs --x" in result.output
    result = invoke("ingest", "--x", str(tmp_path / "missing.csv"))
    assert result.exit_code == 2 and "file not found" in result.output


def test_promote_and_rollback_are_recorded_and_reported_to_dagster(rakuten_env):
    from rakuten_assets.core.registry import ModelRegistry
    from rakuten_assets.core.store import ProductStore
    from tests.support.models import register_version

    first = register_version(rakuten_env)
    second = register_version(rakuten_env, alias=False)
    result = invoke("promote", second, "--reason", "the new one")
    assert result.exit_code == 0, result.output
    assert f"version {first} -> {second}" in result.output
    registry = ModelRegistry(rakuten_env)
    assert str(registry.champion().version) == second
    with instance(rakuten_env) as dagster:
        event = dagster.get_latest_materialization_event(PROMOTED_MODEL)
        metadata = event.asset_materialization.metadata
        assert metadata["champion_after"].value == second and metadata["decision"].value == "manual"

    result = invoke("rollback", "--reason", "it was worse")
    assert result.exit_code == 0, result.output
    assert str(registry.champion().version) == first
    moves = ProductStore(rakuten_env.db_url).champion_moves(rakuten_env.model_name, rakuten_env.champion_alias)
    assert list(moves["kind"][:2]) == ["rollback", "manual"]
    assert moves.iloc[0]["reason"] == "it was worse" and moves.iloc[0]["actor"].startswith("cli:")


@pytest.mark.parametrize("version", ["99", "not-a-version"])
def test_promoting_an_unknown_version_is_one_clear_line(rakuten_env, version):
    from tests.support.models import register_version

    register_version(rakuten_env)
    result = invoke("promote", version, "--reason", "x")
    assert result.exit_code == 2 and "cannot move" in result.output
    assert "Traceback" not in result.output


def test_rollback_without_a_previous_champion_says_so(rakuten_env):
    result = invoke("rollback", "--reason", "x")
    assert result.exit_code == 2 and "nothing to roll back to" in result.output
