"""What the deployment relies on from the CLI and the settings (issue 10): the `change-me`
placeholders of .env.example are refused with one line naming the .env variable; a Dagster
instance whose variables are unset is refused with one line naming them (not a Dagster
traceback); a production workspace.yaml is never overwritten."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import PROJECT_ROOT

RAKUTEN = str(Path(sys.executable).parent / "rakuten")


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([RAKUTEN, *args], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True,
                          text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize("variable, value, names", [
    ("RAKUTEN_DATABASE_URL", "postgresql://rakuten:change-me-postgres-password@postgres:5432/rakuten",
     "POSTGRES_PASSWORD"),
    ("RAKUTEN_ADMIN_TOKEN", "change-me-admin-token", "RAKUTEN_ADMIN_TOKEN"),
    ("RAKUTEN_HUB_USERS", "admin:change-me-hub-password", "RAKUTEN_HUB_USERS"),
    ("MLFLOW_TRACKING_URI", "postgresql://rakuten:change-me-postgres-password@postgres:5432/mlflow",
     "POSTGRES_PASSWORD"),
])
def test_a_placeholder_secret_stops_the_command_with_one_line(tmp_path, variable, value, names):
    proc = run(["migrate"], {"RAKUTEN_HOME": str(tmp_path), variable: value}, tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "change-me" in lines[0] and f"set a real {names} in .env" in lines[0], lines[0]
    assert value not in proc.stderr, "the refused secret itself is not echoed"
    assert not (tmp_path / "rakuten.db").exists(), "refused before touching the store"


def test_real_secrets_and_unset_ones_are_accepted(monkeypatch):
    from rakuten_assets.core.settings import Settings

    monkeypatch.setenv("RAKUTEN_ADMIN_TOKEN", "4f1c0e9a2b")
    monkeypatch.setenv("RAKUTEN_HUB_USERS", "admin:correct-horse,ops:battery-staple")
    monkeypatch.setenv("RAKUTEN_DATABASE_URL", "postgresql://rakuten:8d2e@postgres:5432/rakuten")
    settings = Settings(_env_file=None)
    assert settings.admin_token == "4f1c0e9a2b" and settings.hub_users.startswith("admin:")
    monkeypatch.delenv("RAKUTEN_ADMIN_TOKEN")
    monkeypatch.delenv("RAKUTEN_HUB_USERS")
    assert Settings(_env_file=None).admin_token is None


def test_every_placeholder_of_the_settings_is_named_at_once(monkeypatch):
    from pydantic import ValidationError

    from rakuten_assets.core.settings import SECRET_SOURCES, Settings

    monkeypatch.setenv("RAKUTEN_ADMIN_TOKEN", "change-me-admin-token")
    monkeypatch.setenv("RAKUTEN_HUB_USERS", "admin:change-me-hub-password")
    monkeypatch.setenv("RAKUTEN_DATABASE_URL", "postgresql://u:change-me-x@db/rakuten")
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    fields = {e["loc"][0] for e in refused.value.errors()}
    assert fields == {"admin_token", "hub_users", "database_url"} <= set(SECRET_SOURCES)


def _production_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    return home


def test_an_unset_dagster_pg_url_is_one_line_not_a_traceback(tmp_path):
    """`docker run rakuten-mlops materialize` without DAGSTER_PG_URL (the image's DAGSTER_HOME
    holds deploy/dagster.yaml); the compose test runs the image itself."""
    env = {"RAKUTEN_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(_production_home(tmp_path)),
           "DAGSTER_STORAGE_DIR": str(tmp_path / "storage"), "DAGSTER_COMPUTE_LOGS_DIR": str(tmp_path / "logs")}
    proc = run(["materialize"], env, tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: DAGSTER_PG_URL (e.g. postgresql+psycopg2://"), proc.stderr
    assert "unset DAGSTER_HOME for the embedded SQLite default" in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_every_unset_instance_variable_is_named(tmp_path):
    env = {"RAKUTEN_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(_production_home(tmp_path))}
    proc = run(["ingest"], env, tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    for name in ("DAGSTER_PG_URL", "DAGSTER_STORAGE_DIR", "DAGSTER_COMPUTE_LOGS_DIR"):
        assert name in line, line


def test_a_workspace_file_rakuten_did_not_write_is_kept(tmp_path, monkeypatch):
    from rakuten_assets.cli.services import WORKSPACE_YAML, prepare_dagster_home
    from rakuten_assets.core.settings import Settings

    home = _production_home(tmp_path)
    deployed = (PROJECT_ROOT / "deploy" / "workspace.yaml").read_text()
    (home / "workspace.yaml").write_text(deployed)
    for name in ("DAGSTER_PG_URL", "DAGSTER_STORAGE_DIR", "DAGSTER_COMPUTE_LOGS_DIR"):
        monkeypatch.setenv(name, "postgresql+psycopg2://u:p@db/dagster" if name == "DAGSTER_PG_URL" else str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("RAKUTEN_HOME", str(tmp_path / "home"))
    prepare_dagster_home(Settings(_env_file=None))
    assert (home / "workspace.yaml").read_text() == deployed

    embedded = tmp_path / "embedded"
    monkeypatch.setenv("DAGSTER_HOME", str(embedded))
    embedded.mkdir()
    (embedded / "workspace.yaml").write_text(WORKSPACE_YAML.replace("rakuten_assets.definitions", "old.module"))
    prepare_dagster_home(Settings(_env_file=None))
    assert (embedded / "workspace.yaml").read_text() == WORKSPACE_YAML, "its own file is rewritten"
