"""Helpers shared by the hub tests (no tests here): a local stack started for real (product store
with one ingested batch, a registered champion, the API in a uvicorn subprocess, the Dagster
webserver and daemon in subprocesses) and the hub itself, in-process on a free port."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.env import PROJECT_ROOT, project_home
from tests.support.services import free_port, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "hub"


def require_chromium() -> None:
    """Browser tests run wherever Chromium is; outside CI they skip when it is missing, in CI
    they fail (CI installs Debian's chromium: `make test` runs scripts/install-system-deps.sh)."""
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} is missing (Debian package `chromium`; `make system-deps` installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message, allow_module_level=True)


class Service:
    """A long-running command in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], workdir: Path, env: dict | None = None):
        self.name, self.argv, self.workdir = name, argv, workdir
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(PROJECT_ROOT)] + [p for p in [self.env.get("PYTHONPATH")] if p])
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Service:
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, cwd=self.workdir, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 8.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()


class DagsterStack:
    """`dagster-webserver` (and optionally `dagster-daemon`) with the DAGSTER_HOME of the current
    settings (queued runs, as `rakuten up` configures it). Both talk to one `dagster code-server`
    serving the project's code location `rakuten` (module and location name of workspace.yaml),
    so the code is loaded once rather than once per process."""

    def __init__(self, settings, workdir: Path, *, daemon: bool):
        from rakuten_assets.cli.services import prepare_dagster_home

        prepare_dagster_home(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        code_port = free_port()
        workspace = workdir / "workspace.yaml"
        workspace.write_text("load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
                             f"      port: {code_port}\n      location_name: rakuten\n")
        bin_dir = Path(sys.executable).parent
        self.code = Service("dagster-code-server", [
            str(bin_dir / "dagster"), "code-server", "start", "-m", "rakuten_assets.definitions",
            "-a", "defs", "-h", "127.0.0.1", "-p", str(code_port)], workdir)
        self.web = Service("dagster-webserver", [str(bin_dir / "dagster-webserver"), "-w", str(workspace),
                                                  "-h", "127.0.0.1", "-p", str(self.port)], workdir)
        self.daemon = Service("dagster-daemon", [str(bin_dir / "dagster-daemon"), "run", "-w",
                                                 str(workspace)], workdir) if daemon else None

    def launch(self) -> DagsterStack:
        from dagster import DagsterInstance

        # Create the instance's SQLite storage once, here: the webserver, the daemon and the code
        # server starting together would otherwise race to stamp the same schema.
        with DagsterInstance.get():
            pass
        self.code.start()
        self.web.start()
        if self.daemon:
            self.daemon.start()
        return self

    def wait_ready(self, settings, timeout: float = 240.0) -> DagsterStack:
        from gradio_hub.clients.dagster import DagsterClient

        client = DagsterClient(settings, base_url=self.url, timeout=10)
        problem: list[str] = []

        def loaded():
            for service in (self.code, self.web):
                if not service.alive():
                    raise RuntimeError(f"{service.name} exited: {service.log_tail()}")
            health = client.health()
            problem_text = health.location_problem or ""
            if (not health.location_loaded and "failed to load" in problem_text
                    and "Unreachable" not in problem_text):  # unreachable: the code server is starting
                problem.append(problem_text)
                return True  # stop waiting: it will not load by itself
            return health.location_loaded

        try:
            wait_for(loaded, timeout, 0.5, "the Dagster webserver with the rakuten code location")
            if problem:
                raise AssertionError(problem[0])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for service in (self.daemon, self.web, self.code):
            if service is not None:
                service.stop()


def launch_hub(settings, *, root_path: str | None = None):
    """The hub, in this process, on a free port; returns (demo, url)."""
    from gradio_hub.app import build_hub, launch_options

    demo = build_hub(settings)
    port = free_port()
    options = launch_options(settings, demo.hub_context, root_path)
    options["footer_links"] = []
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **options)
    return demo, f"http://127.0.0.1:{port}"


@dataclass
class HubStack:
    settings: object
    root: Path
    api: ApiService
    dagster: DagsterStack | None
    versions: list[str] = field(default_factory=list)
    env: dict = field(default_factory=dict)

    def hub_settings(self, **changes):
        """The settings the hub runs with: the live services' addresses, plus `changes`."""
        values = {"api_url": self.api.url, "dagster_url": self.dagster.url if self.dagster else
                  f"http://127.0.0.1:{free_port()}", "prometheus_url": f"http://127.0.0.1:{free_port()}",
                  "grafana_url": f"http://127.0.0.1:{free_port()}",
                  "mlflow_ui_url": f"http://127.0.0.1:{free_port()}", "hub_timeout_seconds": 3.0}
        values.update(changes)
        return self.settings.model_copy(update=values)


_FITTED: dict = {}
LIGHT_MODEL = {"features__chars__ngram_range": (3, 4), "features__chars__max_features": 30_000,
               "features__words__max_features": 30_000}


def register_copy(settings, version: str) -> str:
    """Another registered version of the same logged model (what a promotion test needs), without
    logging it again."""
    from rakuten_assets.core.registry import ModelRegistry

    client = ModelRegistry(settings).client
    source = client.get_model_version(settings.model_name, version)
    copy = client.create_model_version(settings.model_name, source.source, run_id=source.run_id,
                                       tags={"copy_of": version})
    return str(copy.version)


def register_fitted(settings, *, alias: bool = True) -> str:
    """conftest.register_model with the pipeline fitted once per test session (the fit is most of
    the cost), logged and registered in each test's own MLflow store."""
    from rakuten_assets.core.training import TEXT_COLUMNS
    from tests.support.models import register_model, small_labelled_frame

    if "pipeline" not in _FITTED:
        from rakuten_assets.core.model import build_classifier

        frame = small_labelled_frame()
        # The production pipeline with smaller vocabularies: half the fit time, same interface;
        # the hub tests need a served model, not a good one.
        try:
            estimator = build_classifier(**LIGHT_MODEL)
        except (TypeError, ValueError):  # the pipeline's steps were renamed: the full one, then
            estimator = build_classifier()
        _FITTED.update(frame=frame, pipeline=estimator.fit(frame[TEXT_COLUMNS], frame["prdtypecode"]))
    return register_model(settings, _FITTED["frame"], alias=alias, pipeline=_FITTED["pipeline"])


class _Background(threading.Thread):
    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.args, self.error = fn, args, None
        self.start()

    def run(self):
        try:
            self.fn(*self.args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            self.error = exc

    def result(self):
        self.join()
        if self.error is not None:
            raise self.error


def write_real_drift_report(settings) -> Path:
    """A real Evidently report (rakuten_assets.core.drift), of shifted traffic (four home and garden
    classes only) against training-like rows, saved and recorded as the drift_report asset does."""
    from rakuten_assets.core.drift import build_drift_report
    from rakuten_assets.core.store import ProductStore
    from tests.support.models import small_labelled_frame

    columns = ["designation", "description", "prdtypecode"]
    reference = small_labelled_frame(2000, seed=7)[columns]
    current = small_labelled_frame(3000, seed=11)
    current = current[current["prdtypecode"].isin([2583, 1560, 2060, 1920])].head(400)[columns]
    result = build_drift_report(reference, current)
    html_path, _ = result.save(settings.reports_dir / "drift", "drift_report_real")
    store = ProductStore(settings.db_url)
    try:
        store.record_drift(status=result.status, drift_detected=result.drift_detected,
                           drifted_share=result.drifted_share, rows_reference=result.rows_reference,
                           rows_current=result.rows_current, model_version="1",
                           html_path=str(html_path), summary=result.summary())
    finally:
        store.dispose()
    return html_path


class ApiService(Service):
    """`api.main.serve` in a uvicorn subprocess (what `rakuten api` runs)."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        code = ("import logging, sys; logging.basicConfig(level=logging.INFO); "
                "from api.main import serve; serve('127.0.0.1', int(sys.argv[1]))")
        super().__init__(f"api-{self.port}", [sys.executable, "-c", code, str(self.port)], workdir)

    def wait_ready(self, timeout: float = 240.0) -> ApiService:
        def ready():
            if not self.alive():
                raise RuntimeError(f"the API exited: {self.log_tail()}")
            return httpx.get(self.url + "/ready", timeout=5).status_code == 200

        try:
            wait_for(ready, timeout, 0.3, f"{self.url}/ready")
        except BaseException:
            self.stop()
            raise
        return self


@contextlib.contextmanager
def hub_stack(root: Path, *, dagster: bool = True, daemon: bool = False, second_version: bool = False,
              meanwhile=None, **env: str):
    """The whole embedded stack for hub tests: one ingested batch (1,500 synthetic rows), a
    registered champion, the API serving it, and Dagster when asked. The slow starts overlap:
    Dagster boots while the model is fitted, the API while Dagster loads its code location."""
    from rakuten_assets.core.sources import ingest_next, source_from_settings
    from rakuten_assets.core.store import ProductStore

    # Only the runs a test launches: the automatic ones (new_data_sensor on a store never trained
    # by Dagster, the periodic drift report) would queue in front of them.
    env = {"RAKUTEN_RETRAIN_MIN_NEW_ROWS": "100000000", "RAKUTEN_DRIFT_CRON": "0 0 1 1 *", **env}
    with project_home(root, **env) as settings:
        started = time.perf_counter()
        marks: list[str] = []

        def mark(what: str) -> None:
            marks.append(f"{what} {time.perf_counter() - started:.1f} s")

        dagster_stack = DagsterStack(settings, root, daemon=daemon) if dagster else None
        api = ApiService(root)
        try:
            if dagster_stack is not None:
                dagster_stack.launch()
            store = ProductStore(settings.db_url)
            ingest_next(store, source_from_settings(settings), settings)
            store.dispose()
            extra = None
            if meanwhile is not None:  # more set-up, in a thread, while the services start
                extra = _Background(meanwhile, settings)
            versions = [register_fitted(settings)]
            if second_version:
                versions.append(register_copy(settings, versions[0]))
            mark("data + champion")
            api.start()
            api.wait_ready()
            mark("API ready")
            if dagster_stack is not None:
                dagster_stack.wait_ready(settings)
                mark("Dagster ready")
            if extra is not None:
                extra.result()
                mark("extra set-up done")
            print("hub test stack up: " + ", ".join(marks))
            yield HubStack(settings, root, api, dagster_stack, versions, env)
        finally:
            api.stop()
            if dagster_stack is not None:
                dagster_stack.stop()


def write_drift_report(settings, *, share: float, detected: bool, stamp: str, created_at: str) -> Path:
    """A drift report pair as `rakuten_assets.core.drift.DriftResult.save` writes it (HTML + JSON)."""
    import json

    folder = settings.reports_dir
    folder.mkdir(parents=True, exist_ok=True)
    html = (f"<!doctype html><html><body><h1 id='drift-title'>Drift report {stamp}</h1>"
            f"<script>document.body.dataset.ran = 'yes'; try {{ window.parent.document.title = 'pwned'; }}"
            f" catch (e) {{ document.body.dataset.blocked = 'yes'; }}</script></body></html>")
    (folder / f"drift_report_{stamp}.html").write_text(html, encoding="utf-8")
    payload = {"status": "drift" if detected else "ok", "drift_detected": detected,
               "drifted_share": share, "rows_current": 400, "rows_reference": 2000,
               "created_at": created_at}
    path = folder / f"drift_report_{stamp}.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def artifact_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is not None


def get(url: str, **kw) -> httpx.Response:
    return httpx.get(url, timeout=10, **kw)


@contextlib.contextmanager
def chromium_browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def hub_page(browser, timeout_ms: int):
    """A fresh page (own context) whose uncaught script errors collect in `page.hub_errors`."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.hub_errors = errors
    try:
        yield page
    finally:
        context.close()


# --- driving the page: one way for every browser test ---------------------------------------------

def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def fill(page, elem_id: str, text: str) -> None:
    page.locator(f"#{elem_id} textarea, #{elem_id} input").first.fill(text)


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").first.click()
    page.get_by_role("option", name=option, exact=True).click()


def text_of(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id}").inner_text()


def wait_text(page, elem_id: str, text: str, timeout_ms: int = 30_000) -> str:
    """Wait until the element's visible text contains `text`; returns that text."""
    page.wait_for_function("([id, text]) => { const el = document.getElementById(id); "
                           "return !!el && el.innerText.includes(text); }", arg=[elem_id, text],
                           timeout=timeout_ms, polling=200)
    return text_of(page, elem_id)


def sign_in(page, user: str, password: str) -> None:
    """Through the page's own sign-in form, as a person does."""
    page.locator("#hub-sign-in").get_by_text("Sign in").first.click()
    fill(page, "hub-username", user)
    fill(page, "hub-password", password)
    page.locator("#hub-sign-in-button").click()
    wait_text(page, "hub-auth-status", f"Signed in as {user}")
