"""The long-running processes of the embedded default (`rakuten up`), and where they find their
configuration: written into DAGSTER_HOME, or shipped inside the installed package; never looked
up in a source checkout."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import sys
import time
from importlib.resources import files
from logging.handlers import RotatingFileHandler
from pathlib import Path

from honcho.printer import Printer

from rakuten_assets.core.registry import is_local_store
from rakuten_assets.core.settings import Settings

# The code location name the hub's GraphQL calls and the Dagster UI use.
LOCATION_NAME = "rakuten"

DAGSTER_YAML_EMBEDDED = """\
# Embedded default, written by `rakuten`: SQLite storage in this folder.
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
"""

WORKSPACE_HEADER = "# Written by `rakuten` at every start"
WORKSPACE_YAML = f"""\
{WORKSPACE_HEADER}: the installed code location, whatever the current folder.
load_from:
  - python_module:
      module_name: rakuten_assets.definitions
      attribute: defs
      location_name: {LOCATION_NAME}
"""


class DagsterHomeError(RuntimeError):
    """DAGSTER_HOME cannot serve: its dagster.yaml reads variables that are not set."""


def instance_variables(config: Path) -> list[str]:
    """Environment variables a dagster.yaml reads (`{env: NAME}` values), in file order."""
    import yaml

    names: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if set(node) == {"env"} and isinstance(node["env"], str):
                names.append(node["env"])
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(config.read_text()) or {})
    return list(dict.fromkeys(names))


def prepare_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME for every Dagster process we start, with its workspace file. A dagster.yaml is
    written only when the folder has none, so a production one (PostgreSQL storage) is kept, and
    so is a workspace.yaml we did not write (the image's points at the code-location server).
    A dagster.yaml that reads unset variables is refused here, in one sentence, instead of in a
    Dagster traceback (`docker run rakuten-mlops materialize` without DAGSTER_PG_URL)."""
    import os

    settings.ensure_dirs()
    home = settings.dagster_home_dir
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML_EMBEDDED)
    missing = [name for name in instance_variables(config) if not os.environ.get(name)]
    if missing:
        named = ", ".join(f"{n} (e.g. postgresql+psycopg2://USER:PASSWORD@HOST:5432/dagster)"
                          if n == "DAGSTER_PG_URL" else n for n in missing)
        them = "it" if len(missing) == 1 else "them"
        raise DagsterHomeError(f"{named} not set: the Dagster instance in {config} reads {them}; "
                               f"set {them}, or unset DAGSTER_HOME for the embedded SQLite default")
    workspace = home / "workspace.yaml"
    if not workspace.exists() or workspace.read_text().startswith(WORKSPACE_HEADER):
        workspace.write_text(WORKSPACE_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def prometheus_config(settings: Settings) -> Path | None:
    """RAKUTEN_PROMETHEUS_CONFIG, else the copy of monitoring/prometheus.local.yml (with its
    alerts.yml beside it) shipped in this package."""
    if settings.prometheus_config is not None:
        return settings.prometheus_config if settings.prometheus_config.is_file() else None
    shipped = Path(str(files("rakuten_assets.cli") / "monitoring" / "prometheus.local.yml"))
    return shipped if shipped.is_file() else None


def service_processes(settings: Settings) -> list[tuple[str, str]]:
    """(name, command) of every long-running process of the embedded stack."""
    bin_dir = Path(sys.executable).parent
    q = shlex.quote
    target = f"-w {q(str(settings.dagster_home_dir / 'workspace.yaml'))}"
    processes = [
        ("dagster-web", f"{q(str(bin_dir / 'dagster-webserver'))} {target} -h {settings.api_host} "
                        f"-p {settings.dagster_port}"),
        ("dagster-daemon", f"{q(str(bin_dir / 'dagster-daemon'))} run {target}"),
        ("api", f"{q(str(bin_dir / 'rakuten'))} api"),
        ("hub", f"{q(str(bin_dir / 'rakuten'))} hub"),
    ]
    prometheus = shutil.which("prometheus")
    config = prometheus_config(settings)
    if prometheus and config is not None:
        # Optional on the embedded default: started when Debian's prometheus is installed
        # (`make test` installs it), so the alert rules run beside the API.
        processes.append(("prometheus", f"{q(prometheus)} --config.file={q(str(config))} "
                                        f"--storage.tsdb.path={q(str(settings.home_dir / 'prometheus'))} "
                                        "--web.listen-address=127.0.0.1:9090 --log.level=warn"))
    if is_local_store(settings.tracking_uri):
        # The store is a local SQLite file every process opens directly; this server is the UI.
        processes.append(("mlflow-ui", f"{q(str(bin_dir / 'mlflow'))} server --backend-store-uri "
                                       f"{q(settings.tracking_uri)} --default-artifact-root "
                                       f"{q(settings.artifact_root.as_uri())} --host 127.0.0.1 --port 5000"))
    return processes


def service_urls(settings: Settings) -> list[tuple[str, str]]:
    host = settings.api_host
    urls = [("hub", f"http://{settings.hub_host}:{settings.hub_port}"),
            ("API docs", f"http://{host}:{settings.api_port}/docs"),
            ("Dagster UI", f"http://{host}:{settings.dagster_port}")]
    if settings.mlflow_ui_url:
        urls.append(("MLflow UI", settings.mlflow_ui_url))
    if shutil.which("prometheus") and settings.prometheus_url and prometheus_config(settings):
        urls.append(("Prometheus", settings.prometheus_url))
    return urls


# --- what `rakuten up` runs, as the hub's Infrastructure tab reads it -------------------------------
# Each service's output also goes to RAKUTEN_HOME/logs/<service>.log (rotated), and the supervisor
# keeps RAKUTEN_HOME/run/services.json current: pid, command, state, start time of each process.
LOG_MAX_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 3
SYSTEM_NAME = "system"  # honcho's name for its own messages


def logs_dir(settings: Settings) -> Path:
    return settings.home_dir / "logs"


def state_file(settings: Settings) -> Path:
    return settings.home_dir / "run" / "services.json"


class ServiceRecorder(Printer):
    """honcho's console printer, which also writes each service's lines to its own rotated log
    file and records the processes' pids and states. honcho reports starts and stops only as its
    own printed lines ("api started (pid=123)"), so those lines are what is parsed."""

    _STARTED = re.compile(r"^(?P<name>\S+) started \(pid=(?P<pid>\d+)\)")
    _STOPPED = re.compile(r"^(?P<name>\S+) stopped \(rc=(?P<rc>-?\d+)\)")

    def __init__(self, settings: Settings, commands: dict[str, str], output=sys.stdout):
        super().__init__(output)
        self.settings = settings
        self._loggers: dict[str, logging.Logger] = {}
        folder = logs_dir(settings)
        folder.mkdir(parents=True, exist_ok=True)
        self.state = {"supervisor_pid": os.getpid(), "started_at": time.time(),
                      "services": {name: {"command": command, "pid": None, "state": "starting",
                                          "started_at": None, "returncode": None,
                                          "log": str(folder / f"{name}.log")}
                                   for name, command in commands.items()}}
        self._save()

    def _logger(self, name: str) -> logging.Logger:
        if name not in self._loggers:
            log = logging.getLogger(f"rakuten.services.{name}")
            log.propagate = False
            log.setLevel(logging.INFO)
            handler = RotatingFileHandler(self.state["services"][name]["log"], maxBytes=LOG_MAX_BYTES,
                                          backupCount=LOG_BACKUPS, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
            log.addHandler(handler)
            self._loggers[name] = log
        return self._loggers[name]

    def write(self, message) -> None:
        super().write(message)
        data = message.data.decode("utf-8", "replace") if isinstance(message.data, bytes) else message.data
        services = self.state["services"]
        if message.name in services:
            for line in data.splitlines():
                self._logger(message.name).info(line)
            return
        for line in data.splitlines():
            started, stopped = self._STARTED.match(line), self._STOPPED.match(line)
            if started and started["name"] in services:
                services[started["name"]].update(pid=int(started["pid"]), state="running",
                                                 started_at=time.time(), returncode=None)
            elif stopped and stopped["name"] in services:
                services[stopped["name"]].update(state="stopped", returncode=int(stopped["rc"]))
            else:
                continue
            self._save()

    def _save(self) -> None:
        path = state_file(self.settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(self.state, indent=1))
        scratch.replace(path)  # readers never see half a file
