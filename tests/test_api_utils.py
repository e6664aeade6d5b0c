"""Helpers shared by the API tests (no tests here): module-scoped project homes, free ports,
a real uvicorn server and a real `mlflow server` in subprocesses."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENV_KEYS = [k for k in os.environ if k.startswith("RAKUTEN_")] + [
    "MLFLOW_TRACKING_URI", "DAGSTER_HOME", "PROMETHEUS_MULTIPROC_DIR"]


@contextlib.contextmanager
def project_home(root: Path, **env: str):
    """Like the `rakuten_env` fixture, for module-scoped fixtures: an isolated RAKUTEN_HOME
    (plus `env`, e.g. RAKUTEN_ADMIN_TOKEN) for the duration of the block; yields Settings."""
    from rakuten_assets.settings import get_settings

    with pytest.MonkeyPatch.context() as mp:
        for key in ENV_KEYS:
            mp.delenv(key, raising=False)
        mp.setenv("RAKUTEN_HOME", str(root / "home"))
        mp.setenv("DAGSTER_HOME", str(root / "home" / "dagster"))
        mp.setenv("RAKUTEN_SYNTHETIC_ROWS", "3000")
        mp.setenv("RAKUTEN_F1_FLOOR", "0.3")
        for key, value in env.items():
            mp.setenv(key, value)
        mp.chdir(root)
        get_settings.cache_clear()
        settings = get_settings()
        settings.ensure_dirs()
        try:
            yield settings
        finally:
            get_settings.cache_clear()
            import mlflow

            while mlflow.active_run() is not None:
                mlflow.end_run()


@functools.lru_cache(maxsize=1)
def fitted_pipeline():
    """One `build_classifier()` fitted on the small synthetic catalogue, shared by every API
    test module of the session (fitting dominates these tests' time)."""
    from conftest import small_labelled_frame

    from rakuten_assets.model import build_classifier
    from rakuten_assets.training import TEXT_COLUMNS

    frame = small_labelled_frame()
    return frame, build_classifier().fit(frame[TEXT_COLUMNS], frame["prdtypecode"])


def register_version(settings, *, alias: bool = True) -> str:
    """`conftest.register_model` without the refit: logs and registers the shared fitted
    pipeline as a new version (optionally moving the champion alias to it)."""
    from conftest import register_model

    frame, pipeline = fitted_pipeline()
    return register_model(settings, frame, alias=alias, pipeline=pipeline, reason="API test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last is not None and last is not False:
                return last
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


class LiveServer:
    """`api.server.serve` in a real uvicorn subprocess, with the current environment."""

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
                "from api.server import serve; serve('127.0.0.1', int(sys.argv[1]))")
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
