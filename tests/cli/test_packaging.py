"""What `rakuten` needs at run time comes with the installed package, not from a checkout: the
wheel carries the migrations and the Prometheus configuration, and `rakuten up` finds its
workspace and configuration from any folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.support.env import PROJECT_ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    uv = Path(sys.executable).parent / "uv"  # installed by `make install`
    proc = subprocess.run([str(uv), "build", "--wheel", "--out-dir", str(out), str(PROJECT_ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("rakuten_mlops-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_carries_the_migrations_and_the_prometheus_configuration(wheel):
    names = set(wheel.namelist())
    for needed in ("rakuten_assets/core/migrations/env.py", "rakuten_assets/core/migrations/script.py.mako",
                   "rakuten_assets/core/migrations/versions/0001_initial.py",
                   "rakuten_assets/cli/monitoring/prometheus.local.yml", "rakuten_assets/cli/monitoring/alerts.yml",
                   "rakuten_assets/definitions.py", "api/main.py", "gradio_hub/app.py"):
        assert needed in names, needed
    # The packaged configuration is the monitoring/ folder's, as files (not links).
    for name in ("prometheus.local.yml", "alerts.yml"):
        assert wheel.read(f"rakuten_assets/cli/monitoring/{name}") == (PROJECT_ROOT / "monitoring" / name).read_bytes()
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


def test_up_finds_its_workspace_and_prometheus_configuration_from_any_folder(rakuten_env, tmp_path):
    from rakuten_assets.cli.services import prepare_dagster_home, prometheus_config, service_processes

    home = prepare_dagster_home(rakuten_env)
    workspace = yaml.safe_load((home / "workspace.yaml").read_text())
    module = workspace["load_from"][0]["python_module"]
    assert module == {"module_name": "rakuten_assets.definitions", "attribute": "defs", "location_name": "rakuten"}
    commands = dict(service_processes(rakuten_env))
    assert str(home / "workspace.yaml") in commands["dagster-web"]
    config = prometheus_config(rakuten_env)
    assert config is not None and (config.parent / "alerts.yml").is_file()
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_a_prometheus_configuration_from_the_settings_wins(rakuten_env, tmp_path):
    from rakuten_assets.cli.services import prometheus_config

    mine = tmp_path / "prometheus.yml"
    mine.write_text("global: {}\n")
    assert prometheus_config(rakuten_env.model_copy(update={"prometheus_config": mine})) == mine
    missing = rakuten_env.model_copy(update={"prometheus_config": tmp_path / "nope.yml"})
    assert prometheus_config(missing) is None
