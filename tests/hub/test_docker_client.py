"""The hub's Docker client (gradio_hub/clients/docker.py) against a real engine: containers of
one compose-labelled project with their state, health, uptime and restart count; logs; start,
stop and restart; nothing outside the project; clear errors when the engine is missing. Then the
Infrastructure tab over that engine in a real browser: the containers, a filtered log, a restart
refused before sign-in and done after it, checked at the engine.

The containers are made from the local Debian base image (scripts/local-images.py --only base),
labelled as `docker compose` labels a project's containers, with no network.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from tests.support.docker_engine import DEBIAN_BASE, docker_client, docker_host, ensure_images
from tests.support.services import wait_for

pytestmark = pytest.mark.timeout(900)

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


@pytest.fixture(scope="module")
def project():
    """Three containers of a project (`web` healthy and logging, `worker` failing and restarted
    by its policy, `idle`), and one of another project; all removed afterwards."""
    client = docker_client()
    ensure_images("base")
    name = f"rakuten-hubtest-{uuid.uuid4().hex[:8]}"
    common = dict(detach=True, network_mode="none", init=True)
    made = []
    try:
        made.append(client.containers.run(
            DEBIAN_BASE, ["sh", "-c", "for i in 1 2 3; do echo line-$i; done; exec sleep 600"],
            name=f"{name}-web-1", labels={PROJECT_LABEL: name, SERVICE_LABEL: "web"},
            healthcheck={"test": ["CMD", "true"], "interval": 500_000_000, "timeout": 2_000_000_000,
                         "retries": 3, "start_period": 0}, **common))
        made.append(client.containers.run(
            DEBIAN_BASE, ["sh", "-c", "echo crashing; exit 3"], name=f"{name}-worker-1",
            labels={PROJECT_LABEL: name, SERVICE_LABEL: "worker"},
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 2}, **common))
        made.append(client.containers.run(
            DEBIAN_BASE, ["sleep", "600"], name=f"{name}-idle-1",
            labels={PROJECT_LABEL: name, SERVICE_LABEL: "idle"}, **common))
        made.append(client.containers.run(
            DEBIAN_BASE, ["sleep", "600"], name=f"{name}-other",
            labels={PROJECT_LABEL: f"{name}-other", SERVICE_LABEL: "web"}, **common))
        yield name
    finally:
        for container in made:
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001 - best effort: the test may have removed it
                pass


@pytest.fixture
def engine(project):
    from gradio_hub.clients.docker import DockerEngine
    from rakuten_assets.core.settings import Settings

    return DockerEngine(Settings(_env_file=None), base_url=docker_host(), project=project)


def test_lists_the_projects_containers_with_state_health_uptime_and_restarts(engine, project):
    def settled():
        found = {c.service: c for c in engine.containers()}
        worker = found.get("worker")
        if found.get("web") and found["web"].health == "healthy" and worker \
                and worker.state == "exited" and worker.restart_count == 2:
            return found
        return None

    found = wait_for(settled, 60, 0.5, "web healthy and worker given up after 2 restarts")
    assert set(found) == {"web", "worker", "idle"}, "only this project's containers"
    web, worker, idle = found["web"], found["worker"], found["idle"]
    assert web.state == "running" and web.project == project and web.name == f"{project}-web-1"
    assert web.image == DEBIAN_BASE and web.exit_code is None and web.restart_count == 0
    assert 0 <= web.uptime_seconds() < 600
    assert web.started_at is not None and web.started_at <= datetime.now(UTC)
    assert idle.health is None, "no health check: no health status"
    # The restart policy restarted the failing worker twice, then left it exited with its code.
    assert worker.exit_code == 3 and worker.uptime_seconds() is None
    assert worker.finished_at is not None


def test_logs_tail(engine):
    wait_for(lambda: "line-3" in engine.logs("web", tail=10), 20, 0.5, "web's output")
    lines = engine.logs("web", tail=2).splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["line-2", "line-3"], lines
    assert lines[0].split(" ", 1)[0].startswith(str(datetime.now(UTC).year)), "timestamped"
    assert "crashing" in engine.logs("worker", tail=50)


def test_stop_start_and_restart(engine, project):
    before = engine.container("idle")
    assert before.state == "running"
    stopped = engine.stop("idle", timeout=5)
    assert stopped.state == "exited" and stopped.uptime_seconds() is None
    started = engine.start(f"{project}-idle-1")  # by container name as well as service name
    assert started.state == "running" and started.started_at > before.started_at
    restarted = engine.restart("idle", timeout=5)
    assert restarted.state == "running" and restarted.started_at > started.started_at


def test_never_touches_a_container_outside_its_project(engine, project):
    from gradio_hub.common import ServiceError

    other = f"{project}-other"
    assert other not in {c.name for c in engine.containers()}
    with pytest.raises(ServiceError) as refused:
        engine.stop(other)
    assert refused.value.status == 403 and "not a container of" in refused.value.message
    assert docker_client().containers.get(other).status == "running"
    with pytest.raises(ServiceError) as missing:
        engine.restart("no-such-service")
    assert missing.value.status == 404


def test_without_a_project_it_sees_every_container(project):
    from gradio_hub.clients.docker import DockerEngine
    from rakuten_assets.core.settings import Settings

    everything = DockerEngine(Settings(_env_file=None), base_url=docker_host())
    names = {c.name for c in everything.containers()}
    assert {f"{project}-web-1", f"{project}-other"} <= names
    assert everything.project is None, "this test process runs in no container"


def test_an_absent_or_stopped_engine_is_reported_clearly(tmp_path, monkeypatch):
    import gradio_hub.clients.docker as module
    from gradio_hub.clients.docker import DockerEngine
    from gradio_hub.common import ServiceUnavailable
    from rakuten_assets.core.settings import Settings

    settings = Settings(_env_file=None)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(module, "DEFAULT_SOCKET", tmp_path / "docker.sock")
    absent = DockerEngine(settings)
    assert not absent.configured
    with pytest.raises(ServiceUnavailable) as none:
        absent.containers()
    assert "no Docker engine" in none.value.user_message()

    stopped = DockerEngine(settings, base_url=f"unix://{tmp_path / 'gone.sock'}", timeout=2)
    assert stopped.configured
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as down:
        stopped.containers()
    assert time.monotonic() - started < 10
    assert down.value.reason == "the engine is not running", down.value.reason


def test_docker_times_parse_to_aware_datetimes():
    from gradio_hub.clients.docker import human_duration, parse_docker_time

    parsed = parse_docker_time("2026-12-03T13:32:21.911783437Z")
    assert parsed == datetime(2026, 12, 3, 13, 32, 21, 911783, tzinfo=UTC)
    assert parse_docker_time("2026-12-03T13:32:21Z") == datetime(2026, 12, 3, 13, 32, 21, tzinfo=UTC)
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
    assert parse_docker_time("") is None
    assert [human_duration(s) for s in (None, 5, 125, 7300, 200000)] == ["", "5 s", "2 min", "2 h", "2 d"]


def test_the_infrastructure_tab_shows_filters_and_restarts_containers_in_a_browser(project, tmp_path):
    from gradio_hub.clients.docker import DockerEngine
    from tests.support.env import project_home
    from tests.support.hub import (
        artifact_dir, chromium_browser, choose, fill, hub_page, launch_hub, open_tab, require_chromium,
        sign_in, text_of, wait_text,
    )

    require_chromium()
    client = docker_client()
    idle = client.containers.get(f"{project}-idle-1")
    with project_home(tmp_path) as settings:
        hub_settings = settings.model_copy(update={"hub_users": "ops:open sesame", "hub_timeout_seconds": 3.0})
        demo, url = launch_hub(hub_settings)
        # The hub in a container finds its project from its own labels; this test process is in
        # no container, so the engine is scoped to the test's project by hand.
        demo.hub_context.docker = DockerEngine(hub_settings, base_url=docker_host(), project=project)
        try:
            with chromium_browser() as browser, hub_page(browser, 30_000) as page:
                page.goto(url)
                open_tab(page, "Infrastructure")
                page.locator("#infra-refresh").click()
                # The worker's restart policy gives up after 2 restarts: wait for that to be shown.
                for _ in range(30):
                    shown = wait_text(page, "infra-services", f"compose project {project}")
                    if "exited" in shown and "running · healthy" in shown:
                        break
                    time.sleep(1)
                    page.locator("#infra-refresh").click()
                rows = {row.split("\t")[0].strip(): row for row in shown.splitlines() if "\t" in row}
                assert set(rows) >= {"web", "worker", "idle"} and not any("other" in r for r in rows), rows
                assert "running · healthy" in rows["web"] and "exited" in rows["worker"]
                assert "\t2\t" in rows["worker"] and "\t3\t" in rows["worker"], rows["worker"]  # restarts, exit code
                assert "3 containers" in shown and "2 running" in shown

                choose(page, "infra-service", "web")
                fill(page, "infra-filter", "line-2")
                page.locator("#infra-logs-button").click()
                logs = wait_text(page, "infra-logs", "line-2")
                assert "line-1" not in logs and "line-3" not in logs
                wait_text(page, "infra-logs-message", "containing “line-2”")

                before = client.containers.get(idle.id).attrs["State"]["StartedAt"]
                choose(page, "infra-service", "idle")
                page.locator("#infra-restart").click()
                wait_text(page, "infra-action-message", "Sign in")
                assert client.containers.get(idle.id).attrs["State"]["StartedAt"] == before, \
                    "a restart before sign-in did nothing"

                sign_in(page, "ops", "open sesame")
                page.locator("#infra-restart").click()
                said = wait_text(page, "infra-action-message", "Restart idle (by ops): now running")
                assert "Traceback" not in said
                after = client.containers.get(idle.id).attrs
                assert after["State"]["Running"] and after["State"]["StartedAt"] > before, \
                    "the engine restarted the container the button named"
                page.screenshot(path=str(artifact_dir() / "hub-infrastructure-docker.png"), full_page=True)
                assert not page.hub_errors, page.hub_errors
                assert "idle" in text_of(page, "infra-services")
        finally:
            demo.close()
