"""Real processes for tests: free ports, polling, the API in a uvicorn subprocess and a real
`mlflow server`."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.env import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _arrived(value) -> bool:
    """None, False and empty containers mean "not yet"; anything else (0 included) has arrived."""
    if value is None or value is False:
        return False
    try:
        return len(value) > 0
    except TypeError:
        return True


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition",
             on_fail=lambda: ""):
    """Poll until `predicate()` returns something (exceptions count as "not yet"); returns it.
    On time-out, `on_fail()` adds what helps to understand why (a service's log, say)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if _arrived(last):
                return last
        except Exception as exc:  # noqa: BLE001 - keep waiting
            last = exc
        time.sleep(interval)
    detail = on_fail()
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})"
                         + (f"\n{detail}" if detail else ""))


class LiveServer:
    """`api.main.serve` in a real uvicorn subprocess, with the current environment."""

    def __init__(self, workdir: Path, *, port: int | None = None, env: dict | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"api-{self.port}.log"
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(PROJECT_ROOT)] + [p for p in [self.env.get("PYTHONPATH")] if p])
        self.proc: subprocess.Popen | None = None
        self.workdir = workdir

    def start(self, *, wait: str = "health", timeout: float = 240.0) -> LiveServer:
        code = ("import logging, sys; logging.basicConfig(level=logging.INFO); "
                "from api.main import serve; serve('127.0.0.1', int(sys.argv[1]))")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(self.port)],
                                     cwd=self.workdir, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        path = "/ready" if wait == "ready" else "/health"

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_tail()}")
            return httpx.get(self.url + path, timeout=5).status_code == 200

        try:
            wait_for(up, timeout, 0.3, f"{self.url}{path}")
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"{exc}\nserver log:\n{self.log_tail()}") from None
        except BaseException:
            self.stop()
            raise
        return self

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, like a container stop; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class MlflowServer:
    """A real `mlflow server` (tracking + registry) on a SQLite backend."""

    def __init__(self, workdir: Path, backend_uri: str, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.backend_uri = backend_uri
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> MlflowServer:
        mlflow_bin = Path(sys.executable).with_name("mlflow")
        self._log = open(self.workdir / f"mlflow-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [str(mlflow_bin), "server", "--backend-store-uri", self.backend_uri,
             "--artifacts-destination", str(self.workdir / "mlflow-artifacts"),
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            cwd=self.workdir, stdout=self._log, stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
            start_new_session=True)  # its own process group: it starts uvicorn children

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("mlflow server exited")
            return httpx.get(self.url + "/health", timeout=5).status_code == 200

        try:
            wait_for(up, timeout, 0.5, "mlflow server")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()
