"""The Infrastructure tab on the embedded default, in a real browser: the processes `rakuten up`'s
supervisor runs (honcho with the project's ServiceRecorder, here supervising two small programs),
their pid, state and uptime, their rotated log files, a text filter; a process that dies stops
the supervisor (honcho then stops the others and returns), after which every service shows as not
running, without uptime, the killed one with its exit code. (Rotation itself:
tests/hub/test_local_service_logs.py.) (The Docker view is driven in a browser
against a real engine by tests/hub/test_docker_client.py, and inside the stack by the compose
end-to-end test.)"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from playwright.sync_api import sync_playwright

from tests.support.env import project_home
from tests.support.hub import (
    CHROMIUM,
    CHROMIUM_ARGS,
    artifact_dir,
    launch_hub,
    require_chromium,
    wait_text,
)
from tests.support.services import wait_for

require_chromium()

TICKER = """
import itertools, sys, time
for i in itertools.count():
    print(f"{sys.argv[1]} tick {i}", "even" if i % 2 == 0 else "odd", flush=True)
    time.sleep(0.2)
"""
SUPERVISOR = """
import sys
from honcho.manager import Manager
from rakuten_assets.cli.services import ServiceRecorder
from rakuten_assets.core.settings import get_settings

commands = {name: f"{sys.executable} -u {sys.argv[1]} {name}" for name in ("api", "dagster-daemon")}
manager = Manager(printer=ServiceRecorder(get_settings(), commands))
for name, command in commands.items():
    manager.add_process(name, f"exec {command}")  # as `rakuten up` does: the pid is the program's
manager.loop()
"""


@pytest.fixture
def supervised(tmp_path):
    with project_home(tmp_path) as settings:
        ticker = tmp_path / "ticker.py"
        ticker.write_text(TICKER)
        proc = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(ticker)], cwd=tmp_path, env=dict(os.environ),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        state = settings.home_dir / "run" / "services.json"

        def running():
            if proc.poll() is not None:
                raise AssertionError(f"the supervisor exited: {proc.stderr.read().decode()[-2000:]}")
            services = json.loads(state.read_text())["services"]
            return all(s["state"] == "running" for s in services.values()) and services
        try:
            services = wait_for(running, 30, 0.2, "two supervised processes")
            yield settings, proc, services
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(20)


@pytest.fixture
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def service_rows(page) -> dict[str, dict[str, str]]:
    """The services table of the tab, one dict per row by its header, keyed by service."""
    table = page.locator("#infra-services table.hub-table")
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = [[c.strip() for c in row.locator("td").all_inner_texts()] for row in table.locator("tbody tr").all()]
    return {cells[0]: dict(zip(headers, cells)) for cells in rows}


def test_local_services_their_state_and_their_logs(supervised, page):
    settings, supervisor, services = supervised
    demo, url = launch_hub(settings.model_copy(update={"hub_timeout_seconds": 3.0}))
    try:
        page.goto(url)
        page.get_by_role("tab", name="Infrastructure").click()
        wait_text(page, "infra-services", "supervises 2 processes")
        rows = service_rows(page)
        assert list(rows) == ["api", "dagster-daemon"]
        for name, service in services.items():
            row = rows[name]
            assert row["state"] == "running" and row["pid"] == str(service["pid"]), row
            assert re.fullmatch(r"\d+ (s|min)", row["uptime"]), row  # started in this test
            assert row["exit code"] == "" and f"ticker.py {name}" in row["command"], row
        # Logs: the service's own lines, from its rotated file, filtered.
        page.locator("#infra-service input").first.click()
        page.get_by_role("option", name="dagster-daemon", exact=True).click()
        page.locator("#infra-filter textarea, #infra-filter input").first.fill("odd")
        page.locator("#infra-logs-button").click()
        logs = wait_text(page, "infra-logs", "dagster-daemon tick")
        assert "odd" in logs and "even" not in logs and "api tick" not in logs
        assert (settings.home_dir / "logs" / "dagster-daemon.log").is_file()
        page.screenshot(path=str(artifact_dir() / "hub-infrastructure-local.png"), full_page=True)
        assert not page.locator("#infra-controls").is_visible()  # nothing to start or stop here

        # A service that dies shows as exited; a stopped supervisor as not running.
        os.kill(services["api"]["pid"], signal.SIGKILL)
        wait_for(lambda: json.loads((settings.home_dir / "run" / "services.json").read_text())
                 ["services"]["api"]["state"] == "stopped", 30, 0.2, "the supervisor to see the exit")
        os.killpg(supervisor.pid, signal.SIGTERM)
        supervisor.wait(20)
        page.locator("#infra-refresh").click()
        wait_text(page, "infra-services", "rakuten up is not running")
        rows = service_rows(page)
        assert {name: row["state"] for name, row in rows.items()} == {"api": "not running",
                                                                       "dagster-daemon": "not running"}
        assert all(row["uptime"] == "" for row in rows.values()), rows  # nothing runs any more
        # The last pid stays, and the killed one's exit as the supervisor saw it (SIGKILL).
        assert rows["api"]["pid"] == str(services["api"]["pid"]) and rows["api"]["exit code"] == "-9", rows
    finally:
        demo.close()


def test_without_docker_or_a_supervisor_the_tab_says_how_to_start(tmp_path, page, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with project_home(tmp_path) as settings:
        demo, url = launch_hub(settings.model_copy(update={"hub_timeout_seconds": 2.0}))
        try:
            page.goto(url)
            page.get_by_role("tab", name="Infrastructure").click()
            said = wait_text(page, "infra-services", "No local services:")
            assert "make run" in said and "Docker" in said and "Traceback" not in said
        finally:
            demo.close()
