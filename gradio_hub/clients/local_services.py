"""The processes `rakuten up` supervises on the embedded default (Dagster webserver and daemon, the
API, the hub, the MLflow UI, Prometheus), as the hub's Infrastructure tab shows them: read from the
state file the supervisor keeps (RAKUTEN_HOME/run/services.json), each pid checked with psutil,
and the tail of each service's log file (RAKUTEN_HOME/logs/<service>.log).

Only files named in the state file are read: a service name coming back from the browser is looked
up there, never used as a path."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from gradio_hub.common import ServiceError, ServiceUnavailable
from rakuten_assets.core.settings import Settings

SERVICE = "Local services"
TAIL_BYTES = 512 * 1024  # the end of a log is all the tab shows


@dataclass
class LocalService:
    name: str
    state: str            # running | exited | stopped | not running (the supervisor is gone)
    pid: int | None
    started_at: float | None
    returncode: int | None
    command: str

    @property
    def uptime_s(self) -> float | None:
        return time.time() - self.started_at if self.state == "running" and self.started_at else None


def _alive(pid: int | None, started_at: float | None) -> bool:
    """The pid runs, and is the process that was started then (not a later one with its number).
    A zombie (dead, not yet reaped by a hung or stopped supervisor) is not running: psutil's
    is_running() says it is."""
    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        return (process.is_running() and process.status() != psutil.STATUS_ZOMBIE
                and (started_at is None or abs(process.create_time() - started_at) < 30))
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return False


class LocalServices:
    def __init__(self, settings: Settings):
        self.path = settings.home_dir / "run" / "services.json"

    def _state(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            raise ServiceUnavailable(SERVICE, None, "no `rakuten up` has run in this RAKUTEN_HOME",
                                     "start the embedded stack with `make run`") from None
        except (OSError, ValueError) as exc:
            raise ServiceError(SERVICE, f"the supervisor's state file cannot be read: {exc}") from None

    def services(self) -> tuple[bool, list[LocalService]]:
        """(is the supervisor running, its services)."""
        state = self._state()
        supervisor = _alive(state.get("supervisor_pid"), None)
        out = []
        for name, raw in state.get("services", {}).items():
            pid, started = raw.get("pid"), raw.get("started_at")
            if not supervisor:
                status = "not running"
            elif raw.get("state") == "running":
                status = "running" if _alive(pid, started) else "exited"
            else:
                status = raw.get("state") or "unknown"
            out.append(LocalService(name, status, pid, started, raw.get("returncode"), raw.get("command", "")))
        return supervisor, out

    def log_tail(self, name: str, *, lines: int = 200, contains: str | None = None) -> str:
        service = self._state().get("services", {}).get(name)
        if service is None:
            raise ServiceError(SERVICE, f"no service called {name!r}")
        path = Path(service["log"])
        try:
            with path.open("rb") as handle:
                handle.seek(0, 2)
                size = handle.tell()
                handle.seek(max(0, size - TAIL_BYTES))
                text = handle.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        found = text.splitlines()[1:] if size > TAIL_BYTES else text.splitlines()  # the first may be cut
        if contains:
            found = [line for line in found if contains.lower() in line.lower()]
        return "\n".join(found[-lines:])
