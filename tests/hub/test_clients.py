"""The hub's client modules against live local services started here: the API (uvicorn
subprocess), the Dagster webserver (subprocess), MLflow and the product store (SQLite), a real
Prometheus when Debian's package is installed; and every "service down" path, which must answer
quickly with a sentence saying how to start the service."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from tests.support.hub import Service, hub_stack, register_fitted, write_drift_report
from tests.support.services import free_port, wait_for


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub_clients")
    with hub_stack(root, dagster=True, daemon=False) as live:
        yield live


@pytest.fixture(scope="module")
def settings(stack):
    return stack.hub_settings()


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


# --- API ------------------------------------------------------------------------------------------
def test_api_client_against_the_live_api(stack, settings):
    from gradio_hub.clients.api import ApiClient
    from gradio_hub.live_metrics import parse

    api = ApiClient(settings)
    assert api.health() == {"status": "ok"}
    ready, body = api.ready()
    assert ready and body["model_version"] == "1"
    assert api.model()["version"] == "1"
    answer = api.predict("Piscine tubulaire ronde 3,66 x 0,76 m", "<p>Pompe de filtration incluse</p>")
    assert answer["model_version"] == "1" and len(answer["top_k"]) == 5
    assert answer["category"] and 0 < answer["confidence"] <= 1
    batch = api.predict_batch([{"designation": "Jeu PS4 FIFA 19", "description": None},
                               {"designation": "Coussin décoratif 45x45", "description": "coton"},
                               {"designation": "Harry Potter, livre de poche", "description": ""}])
    assert len(batch["predictions"]) == 3
    snap = parse(api.metrics_text())
    assert snap.requests >= 2 and snap.predictions >= 4 and snap.model_version == 1
    assert snap.mean_latency_ms is not None and snap.quantile_ms(0.5) is not None


def test_api_client_errors_are_sentences(stack, settings):
    from gradio_hub.clients.api import ApiClient
    from gradio_hub.common import ServiceError, ServiceUnavailable

    api = ApiClient(settings)
    with pytest.raises(ServiceError) as refused:
        api.predict("   ", None)
    assert refused.value.status == 422 and "designation" in refused.value.user_message()
    with pytest.raises(ServiceError) as no_token:
        api.reload()
    assert "RAKUTEN_ADMIN_TOKEN" in no_token.value.user_message()

    down = ApiClient(settings, base_url=closed_url())
    started = time.perf_counter()
    with pytest.raises(ServiceUnavailable) as unreachable:
        down.predict("Jeu PS4", None)
    assert time.perf_counter() - started < 2
    text = unreachable.value.user_message()
    assert "API is unreachable" in text and "connection refused" in text
    assert "rakuten api" in text and "make run" in text


# --- Dagster ----------------------------------------------------------------------------------------
def test_dagster_client_against_a_live_webserver(stack, settings):
    from gradio_hub.clients.dagster import DagsterClient
    from gradio_hub.common import ServiceError

    dagster = DagsterClient(settings)
    health = dagster.health()
    assert health.location_loaded and health.location_problem is None
    assert health.version.startswith("1.")
    # No daemon in this module: queued runs would wait, and the hub says so.
    assert health.daemons_healthy is False and "dagster-daemon run" in health.daemon_problem

    run_id = dagster.launch("ingest_job", tags={"launched_by": "rakuten-hub:test"})
    run = dagster.run(run_id)
    assert run.job == "ingest_job" and run.status == "QUEUED" and not run.finished
    assert dagster.run_status(run_id) == "QUEUED"
    assert run_id in [r.run_id for r in dagster.runs(10)]
    assert dagster.run_url(run_id) == f"{stack.dagster.url}/runs/{run_id}"
    with pytest.raises(ServiceError, match="unknown job"):
        dagster.launch("no_such_job")
    with pytest.raises(ServiceError):
        dagster.run("00000000-0000-0000-0000-000000000000")


def test_dagster_client_ingests_through_ingest_job_and_reports_champion_moves(stack, settings):
    from dagster import DagsterInstance

    from gradio_hub.clients.dagster import DagsterClient
    from gradio_hub.ingest import describe_run
    from rakuten_assets.defs.constants import PROMOTED_MODEL

    dagster = DagsterClient(settings)
    run_id = dagster.ingest(tags={"launched_by": "rakuten-hub:test"}, x_path="/data/X.csv", y_path="/data/Y.csv")
    run = dagster.run(run_id)
    assert run.job == "ingest_job" and run.status == "QUEUED"
    # No daemon in this module: the hub says the run is waiting instead of pretending it ran.
    outcome = describe_run(dagster, dagster.wait(run_id, 1.0))
    assert not outcome.ok and "still queued" in outcome.message and run_id[:8] in outcome.message
    with DagsterInstance.from_config(str(stack.settings.dagster_home_dir)) as instance:
        config = instance.get_run_by_id(run_id).run_config
    assert config["ops"]["products"]["config"] == {"x_path": "/data/X.csv", "y_path": "/data/Y.csv"}

    dagster.report_champion_move("champion manual move by alice: version 1 -> 2; test")
    with DagsterInstance.from_config(str(stack.settings.dagster_home_dir)) as instance:
        event = instance.get_latest_materialization_event(PROMOTED_MODEL)
    assert event.asset_materialization.description == "champion manual move by alice: version 1 -> 2; test"


def test_dagster_client_when_dagster_is_down(settings):
    from gradio_hub.clients.dagster import DagsterClient
    from gradio_hub.common import ServiceUnavailable

    dagster = DagsterClient(settings, base_url=closed_url())
    for call in (dagster.health, lambda: dagster.runs(5), lambda: dagster.launch("training_job"),
                 lambda: dagster.run_status("x")):
        started = time.perf_counter()
        with pytest.raises(ServiceUnavailable) as down:
            call()
        assert time.perf_counter() - started < 3
        assert "dagster-webserver" in down.value.user_message()


# --- database and MLflow ------------------------------------------------------------------------------
def test_store_reader_reads_the_store(stack, settings):
    from gradio_hub.clients.api import ApiClient
    from gradio_hub.clients.store import StoreReader

    store = StoreReader(settings)
    counts = store.counts()
    assert counts["products"] == 1500 and counts["batches"] == 1
    batches = store.batches()
    assert list(batches["accepted"]) == [1500] and batches["rejection reasons"][0] == "none"
    classes = store.class_distribution()
    assert len(classes) == 27 and classes["rows"].sum() == 1500
    assert any("Pool & Spa Maintenance" in c for c in classes["category"])
    sample = store.sample(20, 0)
    assert len(sample) == 20 and sample["description"].map(type).eq(str).all()
    assert store.sample(20, 20)["productid"].min() > sample["productid"].max()

    marker = f"hub client test {time.time()}"
    ApiClient(settings).predict(marker, "<script>alert(1)</script>")
    wait_for(lambda: marker in set(store.recent_predictions(50)["designation"]), 30, 0.3,
             "the prediction in the inference log")
    history = store.recent_predictions(50)
    assert history.iloc[0]["designation"] == marker  # newest first
    assert history.iloc[0]["description"] == "<script>alert(1)</script>"  # stored as given

    assert isinstance(store.drift_records(), pd.DataFrame)
    moves = store.champion_moves()
    assert list(moves["to_version"]) == ["1"] and moves.iloc[0]["actor"] == "test"


def test_store_reader_when_the_database_is_unreachable(settings):
    from gradio_hub.clients.store import StoreReader
    from gradio_hub.common import ServiceUnavailable

    for url in ("sqlite:////nonexistent-folder/rakuten.db",
                f"postgresql://postgres:secret@127.0.0.1:{free_port()}/rakuten"):
        started = time.perf_counter()
        with pytest.raises(ServiceUnavailable) as down:
            StoreReader(settings.model_copy(update={"database_url": url})).ping()
        assert time.perf_counter() - started < 10
        text = down.value.user_message()
        assert text.startswith("Database is unreachable") and "RAKUTEN_DATABASE_URL" in text
        assert "secret" not in text


def test_registry_reader_champion_versions_runs_and_promotion(stack, settings, tmp_path):
    import mlflow

    from gradio_hub.clients.registry import RegistryReader
    from gradio_hub.clients.store import StoreReader
    from gradio_hub.common import ServiceError

    registry = RegistryReader(settings, StoreReader(settings))
    champion = registry.champion()
    assert champion.version == "1" and "test_weighted_f1" in champion.metrics
    assert "1 registered versions" in registry.ping()
    versions = registry.versions()
    assert list(versions["version"]) == [1] and versions["aliases"][0] == "champion"
    assert len(registry.runs()) >= 1
    assert registry.confusion_matrix("1") is None  # the fixture logged no evaluation artifacts
    assert registry.rollback_target() == ("1", None)

    # A pipeline-like run: the confusion matrix artifact is found and downloaded.
    version = register_fitted(stack.settings, alias=False)
    run_id = registry.registry.version(version).run_id
    image = tmp_path / f"confusion_matrix_v{version}.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(image, [[0, 1], [1, 0]])
    with mlflow.start_run(run_id=run_id):
        mlflow.log_artifact(str(image), artifact_path="evaluation")
    path = registry.confusion_matrix(version)
    assert path and Path(path).is_file() and Path(path).name == image.name

    moved = registry.move_champion(version, kind="manual", actor="alice", reason="client test")
    assert (moved.from_version, moved.to_version) == ("1", version)
    assert registry.champion().version == version
    assert registry.rollback_target() == (version, "1")
    back = registry.move_champion("1", kind="rollback", actor="alice", reason="back")
    assert back.from_version == version
    with pytest.raises(ServiceError, match="no version 99"):
        registry.move_champion("99", kind="manual", actor="alice", reason="nope")


def test_registry_reader_when_the_tracking_server_is_down(settings, monkeypatch):
    from gradio_hub.clients.registry import RegistryReader
    from gradio_hub.clients.store import StoreReader
    from gradio_hub.common import ServiceUnavailable

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    down_settings = settings.model_copy(update={"mlflow_tracking_uri": closed_url()})
    down = RegistryReader(down_settings, StoreReader(down_settings))
    started = time.perf_counter()
    with pytest.raises(ServiceUnavailable) as failed:
        down.ping()
    assert time.perf_counter() - started < 15
    assert failed.value.user_message().startswith("MLflow is unreachable")
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)  # the other tests' store again
    mlflow.set_registry_uri(settings.tracking_uri)


# --- optional services ------------------------------------------------------------------------------
def test_optional_http_services_down_or_not_configured(settings):
    from gradio_hub.clients.services import GrafanaClient, MlflowUiClient, PrometheusClient
    from gradio_hub.common import ServiceUnavailable

    for client, hint in ((PrometheusClient(settings), "prometheus --config.file"),
                         (GrafanaClient(settings), "grafana/provisioning"),
                         (MlflowUiClient(settings), "mlflow ui --backend-store-uri")):
        assert client.configured
        started = time.perf_counter()
        with pytest.raises(ServiceUnavailable) as down:
            client.health()
        assert time.perf_counter() - started < 3
        assert hint in down.value.user_message()
    assert not PrometheusClient(settings.model_copy(update={"prometheus_url": ""})).configured
    # The Docker engine's client: tests/hub/test_docker_client.py, against a real engine.


class _GrafanaLike(BaseHTTPRequestHandler):
    """Answers Grafana's two documented endpoints the hub uses (/api/health, /api/search)."""

    def do_GET(self):
        bodies = {"/api/health": {"database": "ok", "version": "11.0.0"},
                  "/api/search": [{"title": "Rakuten API", "url": "/d/rakuten-api/rakuten-api"}]}
        path = self.path.split("?")[0]
        payload = json.dumps(bodies.get(path, {})).encode()
        self.send_response(200 if path in bodies else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_grafana_client_reads_health_and_dashboards(settings):
    from gradio_hub.clients.services import GrafanaClient

    server = ThreadingHTTPServer(("127.0.0.1", 0), _GrafanaLike)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        grafana = GrafanaClient(settings.model_copy(update={"grafana_url": url + "/"}))
        assert grafana.health() == "database ok, version 11.0.0"
        assert grafana.dashboards() == [("Rakuten API", url + "/d/rakuten-api/rakuten-api")]
    finally:
        server.shutdown()


def test_prometheus_client_against_a_real_prometheus(stack, settings, tmp_path):
    from gradio_hub.clients.services import PrometheusClient

    binary = "/usr/bin/prometheus"
    if not os.path.exists(binary):
        if os.environ.get("CI"):
            pytest.fail(f"{binary} missing in CI (Debian package prometheus)")
        pytest.skip(f"{binary} missing (Debian package prometheus)")
    port = free_port()
    rules = tmp_path / "rules.yml"
    rules.write_text("groups:\n- name: hub\n  interval: 1s\n  rules:\n"
                     "  - alert: HubTestAlways\n    expr: vector(1)\n    labels: {severity: info}\n"
                     "    annotations: {summary: always firing}\n")
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                      f"rule_files: [{rules}]\n"
                      "scrape_configs:\n- job_name: api\n  static_configs:\n"
                      f"  - targets: ['{stack.api.url.split('//')[1]}']\n")
    prometheus = Service("prometheus", [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                                        f"--web.listen-address=127.0.0.1:{port}"], tmp_path).start()
    try:
        client = PrometheusClient(settings.model_copy(update={"prometheus_url": f"http://127.0.0.1:{port}"}))
        wait_for(lambda: client.health(), 30, 0.3, "prometheus")
        assert "Healthy" in client.health()
        up = wait_for(lambda: client.query('up{job="api"}'), 30, 0.5, "a scrape of the API")
        assert up[0]["value"][1] == "1"
        alerts = wait_for(lambda: [a for a in client.alerts() if a["state"] == "firing"], 30, 0.5, "the alert")
        assert alerts[0]["alert"] == "HubTestAlways" and alerts[0]["summary"] == "always firing"
    finally:
        prometheus.stop()


# --- the hub's own logic --------------------------------------------------------------------------------
def test_live_metrics_rates_and_quantiles():
    from gradio_hub.live_metrics import (
        MetricsHistory,
        Snapshot,
        delta,
        histogram_quantile,
    )

    buckets = {0.005: 50.0, 0.01: 90.0, 0.025: 100.0, float("inf"): 100.0}
    assert histogram_quantile(0.5, buckets) == 0.005
    assert histogram_quantile(0.9, buckets) == pytest.approx(0.01)
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.0175)
    assert histogram_quantile(0.5, {}) is None
    old = Snapshot(at=100.0, requests=10, buckets={0.01: 10.0, float("inf"): 10.0})
    new = Snapshot(at=110.0, requests=30, buckets={0.01: 25.0, float("inf"): 30.0}, predictions=40)
    d = delta(new, old)
    assert d["requests/s"] == 2.0 and d["p50 ms"] == pytest.approx(10 * 10 / 15)
    assert delta(old, new) is None  # counters went down: the API restarted

    text = iter(["rakuten_prediction_latency_seconds_count 1\n", "rakuten_prediction_latency_seconds_count 3\n"])
    history = MetricsHistory(min_interval=0)
    history.sample(lambda: next(text))
    time.sleep(0.05)
    history.sample(lambda: next(text))
    series = history.series()
    assert list(series["metric"]) == ["requests/s"] and series["value"].iloc[0] > 0


def test_login_gate(monkeypatch):
    from gradio_hub import auth
    from rakuten_assets.core.settings import Settings

    monkeypatch.setattr(auth, "FAILED_LOGIN_DELAY_S", 0)
    assert auth.parse_users(" alice:pa:ss , bob:x ") == {"alice": "pa:ss", "bob": "x"}
    for bad in ("alice", "alice:", ":pw"):
        with pytest.raises(ValueError, match="RAKUTEN_HUB_USERS"):
            auth.parse_users(bad)
    open_gate = auth.Gate(Settings(hub_users=None))
    assert not open_gate.enabled and open_gate.require(None) == auth.OPEN_USER
    gate = auth.Gate(Settings(hub_users="alice:pa:ss"))
    assert gate.check("alice", "pa:ss") and not gate.check("alice", "pa") and not gate.check("eve", "pa:ss")
    with pytest.raises(auth.NotAllowed, match="Sign in first"):
        gate.require(None, None, "promotion")
    # Per-session state is no credential (issue 13); the request's cookie or Gradio login is.
    with pytest.raises(auth.NotAllowed):
        gate.require("alice")
    assert gate.require(None, type("R", (), {"username": "alice"})()) == "alice"
    with pytest.raises(auth.NotAllowed):
        gate.require("mallory")
    assert gate.gradio_auth() is None
    assert auth.Gate(Settings(hub_users="alice:pw", hub_protect_all=True)).gradio_auth() is not None


def test_batch_upload_reading_and_prediction(stack, settings, tmp_path):
    from gradio_hub.batch import BadUpload, predict_frame, read_upload
    from gradio_hub.clients.api import ApiClient

    official = tmp_path / "X_test.csv"
    pd.DataFrame({"designation": ["Jeu PS4 FIFA 19", "", "x" * (settings.api_max_text_chars + 1)],
                  "description": ["<b>neuf</b>", "sans titre", ""], "productid": [1, 2, 3],
                  "imageid": [4, 5, 6]}, index=[84916, 84917, 84918]).to_csv(official)
    frame = read_upload(official, 100)
    assert list(frame.columns[:3]) == ["row", "designation", "description"]
    outcome = predict_frame(frame, ApiClient(settings), settings)
    assert list(outcome.frame["status"]) == ["ok", "empty designation",
                                             f"text over {settings.api_max_text_chars} characters"]
    assert outcome.predicted == 1 and len(outcome.model_versions) == 1  # whichever is served now
    written = pd.read_csv(outcome.path, dtype=str, keep_default_na=False)
    assert written.loc[0, "row"] == "84916" and written.loc[0, "description"] == "<b>neuf</b>"
    assert written.loc[0, "category"] and written.loc[1, "prdtypecode"] == ""
    assert "Predicted 1 of 3 rows" in outcome.summary() and "1 empty designation" in outcome.summary()

    plain = tmp_path / "plain.csv"
    plain.write_text("designation\nLot de 3 figurines\n", encoding="utf-8")
    assert list(read_upload(plain, 10)["description"]) == [""]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("designation\nCafé\n".encode("latin-1"))
    bad_cases = {latin: "not UTF-8", tmp_path / "empty.csv": "is empty",
                 tmp_path / "nocol.csv": "no `designation` column", tmp_path / "big.csv": "more than 2 rows"}
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "nocol.csv").write_text("title,text\na,b\n")
    (tmp_path / "big.csv").write_text("designation\na\nb\nc\n")
    for path, message in bad_cases.items():
        with pytest.raises(BadUpload, match=message):
            read_upload(path, 2)


def test_batch_prediction_of_the_official_test_sample(stack, settings):
    from gradio_hub.batch import predict_frame, read_upload
    from gradio_hub.clients.api import ApiClient
    from tests.support.env import real_data_path

    frame = read_upload(real_data_path("X_test_sample.csv"), settings.hub_batch_max_rows)
    outcome = predict_frame(frame, ApiClient(settings), settings)
    assert outcome.predicted == len(frame) - int((frame["designation"].str.strip() == "").sum())
    assert set(outcome.frame.loc[outcome.frame["status"] == "ok", "category"]) - {""}


def test_drift_history_from_files_and_from_the_store(stack, settings):
    from gradio_hub.clients.drift_reports import drift_history, drift_reports
    from gradio_hub.clients.store import StoreReader
    from gradio_hub.tabs.monitoring import report_iframe
    from rakuten_assets.core.store import ProductStore

    write_drift_report(settings, share=0.2, detected=False, stamp="20260101T000000Z",
                       created_at="2026-01-01T00:00:00+00:00")
    write_drift_report(settings, share=0.8, detected=True, stamp="20260102T000000Z",
                       created_at="2026-01-02T00:00:00+00:00")
    files = drift_history(settings)
    assert list(files["drifted share"]) == [0.2, 0.8] and list(files["drift"]) == ["not detected", "detected"]
    reports = drift_reports(settings)
    assert next(iter(reports)).startswith("drift_report_2026010")
    store = ProductStore(settings.db_url)
    store.record_drift(status="ok", drift_detected=False, drifted_share=0.1, rows_reference=10,
                       rows_current=10, model_version="1", html_path=str(reports[next(iter(reports))]),
                       summary={})
    from_db = drift_history(settings, StoreReader(settings))
    assert list(from_db["drifted share"]) == [0.1]  # the table wins when it has rows
    store.dispose()
    html = report_iframe(next(iter(reports.values())))
    assert 'sandbox="allow-scripts"' in html and "<script>" not in html and "&lt;script&gt;" in html


def test_overview_probes_are_quick_when_services_are_down(stack, settings):
    from gradio_hub.tabs import overview as tab_overview
    from gradio_hub.context import HubContext

    ctx = HubContext(settings.model_copy(update={"api_url": closed_url(), "dagster_url": closed_url()}))
    started = time.perf_counter()
    rows = {h.service: h for h in tab_overview.probes(ctx)}
    assert time.perf_counter() - started < 5
    assert not rows["API"].ok and "rakuten api" in rows["API"].hint
    assert not rows["Dagster"].ok and rows["Database"].ok and rows["MLflow"].ok
    assert not rows["Prometheus"].ok and rows["Prometheus"].optional
    html = tab_overview.health_html(list(rows.values()))
    assert "Unreachable or unhealthy: API, Dagster" in html and "How to start it" in html


def test_launch_serves_the_hub_on_a_sub_path(stack, monkeypatch):
    """`launch()` as `rakuten hub` calls it (settings from the environment), here without blocking:
    the page answers, behind a proxy it points at the proxy's address under root_path, and the
    libraries' own waits are bounded."""
    import httpx

    from gradio_hub.app import launch
    from rakuten_assets.core.settings import get_settings

    for key in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "PGCONNECT_TIMEOUT",
                "GRADIO_ANALYTICS_ENABLED"):
        monkeypatch.delenv(key, raising=False)  # launch() sets them; restored after the test
    monkeypatch.setenv("RAKUTEN_API_URL", stack.api.url)
    monkeypatch.setenv("RAKUTEN_DAGSTER_URL", stack.dagster.url)
    get_settings.cache_clear()
    port = free_port()
    demo = launch("127.0.0.1", port, "/hub", block=False)
    try:
        assert demo.hub_context.api.base_url == stack.api.url
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "Rakuten control hub" in page.text
        config = httpx.get(f"http://127.0.0.1:{port}/config", timeout=10,
                           headers={"x-forwarded-host": "proxy.example:8080"}).json()
        assert config["root"].endswith("proxy.example:8080/hub")
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
    finally:
        demo.close()
        get_settings.cache_clear()


def test_typed_labels_resolve_to_one_category_or_say_which():
    from gradio_hub.labelling import resolve_label

    assert resolve_label("2583") == (2583, [])
    assert resolve_label("piscine spa") == (2583, []) and resolve_label("linge") == (1920, [])
    code, candidates = resolve_label("jeu")
    assert code is None and 40 in candidates and 1940 not in candidates  # "déjeuner" is no game
    assert resolve_label("999") == (None, []) and resolve_label("") == (None, [])


def test_the_hubs_job_names_and_asset_key_are_the_definitions_own():
    """The hub names Dagster's jobs and the promoted_model key as strings (it does not import
    Dagster): a renamed job or key in the definitions must fail here, not in production."""
    from gradio_hub.clients.dagster import JOBS, PROMOTED_MODEL_PATH
    from gradio_hub.ingest import INGESTING_JOBS
    from rakuten_assets.defs.constants import PROMOTED_MODEL
    from rakuten_assets.definitions import defs

    jobs = {job.name for job in defs().resolve_all_job_defs()}
    assert set(JOBS) <= jobs and set(INGESTING_JOBS) <= jobs, (JOBS, INGESTING_JOBS, jobs)
    assert PROMOTED_MODEL_PATH == PROMOTED_MODEL.path
