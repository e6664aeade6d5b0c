"""The Docker engine as the hub sees it, through the Docker SDK (`docker`): the stack's containers
with their state, health, uptime and restart count; start, stop and restart one; the tail of its
log. For the Overview and Infrastructure tabs.

Used only when an engine is reachable (DOCKER_HOST, or /var/run/docker.sock mounted into the
hub's container; docs/operations.md). Inside a compose stack the hub sees and acts on its own
project's containers only (found from its own container's labels), never the host's others.
Every call has a timeout and fails with `ServiceUnavailable` or `ServiceError`, like the hub's
other clients; the SDK connects on first use, so a missing engine never slows the hub's start.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gradio_hub.common import ServiceError, ServiceUnavailable
from rakuten_assets.core.settings import Settings

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
DEFAULT_SOCKET = Path("/var/run/docker.sock")
# Most log lines one call returns: enough to read an error, bounded for the page.
MAX_LOG_LINES = 2000
# Containers stopped from the hub get this long to exit cleanly (the API flushes its log).
STOP_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    service: str | None
    project: str | None
    image: str
    state: str                 # created, running, restarting, paused, exited, dead
    health: str | None         # healthy, unhealthy, starting; None without a health check
    started_at: datetime | None
    finished_at: datetime | None
    restart_count: int
    exit_code: int | None
    is_self: bool = False      # the hub's own container

    def uptime_seconds(self, now: datetime | None = None) -> float | None:
        if self.state != "running" or self.started_at is None:
            return None
        return max(0.0, ((now or datetime.now(UTC)) - self.started_at).total_seconds())

    @property
    def label(self) -> str:
        """`service` inside a compose project, the container name elsewhere."""
        return self.service or self.name


def parse_docker_time(value: str | None) -> datetime | None:
    """Docker's RFC 3339 times with nanoseconds; its zero time (never started) is None."""
    if not value or value.startswith("0001-01-01"):
        return None
    head, _, rest = value.partition(".")
    if rest:  # keep microseconds, drop the nanosecond digits Python cannot hold
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):] or "Z"
        value = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(value)  # Python 3.11 reads a trailing Z


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


class DockerEngine:
    service = "Docker"

    def __init__(self, settings: Settings, *, timeout: float | None = None,
                 base_url: str | None = None, project: str | None = None):
        """`base_url`: the engine (default DOCKER_HOST, else the local socket). `project`: the
        compose project to scope to (default: the hub's own, when it runs in a container of one;
        else every container)."""
        self.timeout = timeout or max(settings.hub_timeout_seconds, 5.0)
        host = base_url or os.environ.get("DOCKER_HOST") or ""
        if not host and DEFAULT_SOCKET.is_socket():
            host = f"unix://{DEFAULT_SOCKET}"
        self.base_url = host or None
        self._project = project
        self._project_known = project is not None
        self._self_id: str | None = None
        self._client = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return self.base_url is not None

    # --- connection -----------------------------------------------------------------------------
    def _engine(self):
        if not self.configured:
            raise ServiceUnavailable(self.service, None, "no Docker engine on this machine",
                                     "nothing to do unless the stack runs in containers")
        with self._lock:
            if self._client is None:
                import docker
                from docker.errors import DockerException

                try:
                    # version="auto" asks the engine its API version (any engine from 20.10 on).
                    self._client = docker.DockerClient(base_url=self.base_url, version="auto",
                                                       timeout=self.timeout)
                except DockerException as exc:
                    raise self._unavailable(exc) from exc
                self._find_own_project(self._client)
            return self._client

    def _unavailable(self, exc: BaseException) -> ServiceUnavailable:
        text = str(exc)
        if "Permission denied" in text or "PermissionError" in text:
            reason = "permission denied on the engine's socket"
            hint = "give the hub's user the socket's group (DOCKER_GID in .env)"
        elif "No such file" in text or "FileNotFoundError" in text or "Connection refused" in text:
            reason, hint = "the engine is not running", "start the Docker engine"
        elif "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
            reason, hint = f"no answer within {self.timeout:.0f} s", "check the Docker engine"
        else:
            reason, hint = (text.splitlines()[0][:200] if text else type(exc).__name__), "check the Docker engine"
        return ServiceUnavailable(self.service, self.base_url, reason, hint)

    def _find_own_project(self, client) -> None:
        """The compose project of the container this process runs in, if any (its hostname is
        its container id unless the compose file sets another)."""
        from docker.errors import DockerException

        try:
            own = client.containers.get(socket.gethostname())
        except (DockerException, OSError):
            return
        self._self_id = own.id
        if not self._project_known:
            self._project = (own.labels or {}).get(PROJECT_LABEL)
            self._project_known = True

    @property
    def project(self) -> str | None:
        self._engine()
        return self._project

    def _call(self, what: str, fn):
        import requests
        from docker.errors import APIError, DockerException, NotFound

        client = self._engine()
        try:
            return fn(client)
        except NotFound as exc:
            raise ServiceError(self.service, f"{what}: no such container", 404) from exc
        except APIError as exc:
            detail = (exc.explanation or str(exc)).strip().splitlines()[0][:200]
            raise ServiceError(self.service, f"{what}: {detail}", exc.status_code) from exc
        except (DockerException, requests.RequestException, OSError) as exc:
            raise self._unavailable(exc) from exc

    # --- reading --------------------------------------------------------------------------------
    def _info(self, container) -> ContainerInfo:
        attrs = container.attrs
        state = attrs.get("State") or {}
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        image = (attrs.get("Config") or {}).get("Image") or attrs.get("Image", "")
        status = state.get("Status", "")
        return ContainerInfo(
            id=container.id[:12], name=container.name, service=labels.get(SERVICE_LABEL),
            project=labels.get(PROJECT_LABEL), image=image, state=status,
            health=(state.get("Health") or {}).get("Status"),
            started_at=parse_docker_time(state.get("StartedAt")),
            finished_at=parse_docker_time(state.get("FinishedAt")),
            restart_count=int(attrs.get("RestartCount") or 0),
            exit_code=None if status in ("running", "created") else state.get("ExitCode"),
            is_self=container.id == self._self_id)

    def containers(self) -> list[ContainerInfo]:
        """Every container of the project (running or not), sorted by service name."""
        def run(client):
            filters = {"label": f"{PROJECT_LABEL}={self._project}"} if self._project else None
            return [self._info(c) for c in client.containers.list(all=True, filters=filters)]
        return sorted(self._call("list containers", run), key=lambda c: (c.label, c.name))

    def container(self, name: str) -> ContainerInfo:
        return self._info(self._get(name))

    def logs(self, name: str, tail: int = 200) -> str:
        """The last `tail` lines of the container's output (stdout and stderr)."""
        lines = max(1, min(int(tail), MAX_LOG_LINES))
        container = self._get(name)
        raw = self._call(f"logs of {name}", lambda _c: container.logs(tail=lines, timestamps=True))
        return raw.decode("utf-8", errors="replace")

    # --- acting ---------------------------------------------------------------------------------
    def start(self, name: str) -> ContainerInfo:
        container = self._get(name)
        self._call(f"start {name}", lambda _c: container.start())
        return self.container(name)

    def stop(self, name: str, timeout: int = STOP_TIMEOUT_SECONDS) -> ContainerInfo:
        container = self._get(name)
        self._call(f"stop {name}", lambda _c: self._with_timeout(
            _c, timeout, lambda: container.stop(timeout=timeout)))
        return self.container(name)

    def restart(self, name: str, timeout: int = STOP_TIMEOUT_SECONDS) -> ContainerInfo:
        container = self._get(name)
        self._call(f"restart {name}", lambda _c: self._with_timeout(
            _c, timeout, lambda: container.restart(timeout=timeout)))
        return self.container(name)

    def _with_timeout(self, client, grace: int, action):
        """Stop and restart wait up to `grace` seconds for the container to exit: the HTTP call
        must outlive that, whatever the client's own timeout."""
        saved = client.api.timeout
        client.api.timeout = max(saved or 0, grace + self.timeout)
        try:
            return action()
        finally:
            client.api.timeout = saved

    def _get(self, name: str):
        """A container of this project by name, service name or id; never one outside it."""
        def run(client):
            try:
                container = client.containers.get(name)
            except Exception:  # noqa: BLE001 - retried below as a service name
                container = None
            if container is None and self._project:
                found = client.containers.list(all=True, filters={
                    "label": [f"{PROJECT_LABEL}={self._project}", f"{SERVICE_LABEL}={name}"]})
                container = found[0] if found else None
            if container is None:
                from docker.errors import NotFound
                raise NotFound(f"no container {name}")
            if self._project and (container.labels or {}).get(PROJECT_LABEL) != self._project:
                raise ServiceError(self.service, f"{name} is not a container of the "
                                   f"{self._project} stack", 403)
            return container
        return self._call(f"find {name}", run)
