"""Configuration: one documented place, clear errors for bad values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.env import PROJECT_ROOT

RAKUTEN = str(Path(sys.executable).parent / "rakuten")  # the console script of this environment


def test_configuration_doc_is_generated_from_the_settings():
    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    from render_config_docs import render

    current = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    assert current == render(), "docs/configuration.md is stale: run scripts/render_config_docs.py"


def test_defaults_live_under_rakuten_home(rakuten_env):
    home = rakuten_env.home_dir
    assert rakuten_env.db_url == f"sqlite:///{home / 'rakuten.db'}"
    assert rakuten_env.tracking_uri == f"sqlite:///{home / 'mlflow.db'}"
    assert rakuten_env.dagster_home_dir == home / "dagster"


def test_postgres_url_and_tracking_server_are_taken_as_given(rakuten_env, monkeypatch):
    from rakuten_assets.core.settings import Settings

    monkeypatch.setenv("RAKUTEN_DATABASE_URL", "postgresql://u@db:5432/rakuten")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    settings = Settings()
    assert settings.db_url == "postgresql://u@db:5432/rakuten"
    assert settings.tracking_uri == "http://mlflow:5000"


def test_bad_value_is_a_clear_cli_error_not_a_traceback(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "RAKUTEN_HOME": str(tmp_path), "RAKUTEN_INITIAL_SHARE": "lots"}
    proc = subprocess.run([RAKUTEN, "ingest"], env=env,
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "RAKUTEN_INITIAL_SHARE" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout


def test_bad_csv_is_a_clear_cli_error(tmp_path):
    bad = tmp_path / "X.csv"
    bad.write_text(",designation,productid\n0,Livre,1\n")
    env = {"PATH": "/usr/bin:/bin", "RAKUTEN_HOME": str(tmp_path / "home")}
    proc = subprocess.run([RAKUTEN, "ingest", "--x", str(bad)],
                          env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    # The ingest_job run fails on the file; the terminal gets the reason, not a stack trace.
    assert proc.returncode == 1
    assert "step products FAILED: product file X.csv lacks column(s) description, imageid" in proc.stdout
    output = proc.stderr + proc.stdout
    assert "Traceback" not in output and "Stack Trace" not in output and str(tmp_path) not in output
