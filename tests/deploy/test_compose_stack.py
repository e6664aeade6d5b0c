"""The production stack for real: docker-compose.yml on a Docker engine, end to end.

The project's image is built from the real Dockerfile; the official images no registry here can
serve (Python base, PostgreSQL, Prometheus, Caddy) are replaced by stand-ins built from Debian's
packages through deploy/standins/compose.standins.yml, an override this test alone uses
(scripts/local-images.py). Grafana has no image or package obtainable here: it is validated by
tests/deploy/test_deployment.py, not run, and the figures say so.

`docker compose up -d --wait` brings every service to healthy; the first model is materialised by
`docker compose run --rm rakuten materialize` (Dagster on PostgreSQL, MLflow server with proxied
artifacts); then each test checks one promise of the stack: predictions on the published port,
Prometheus's target and rules, the gate's login, the hub's view of the containers, restarts
under traffic, a PostgreSQL outage, `down` then `up`, and the refusal of placeholder secrets.
Image sizes, build times and the time to healthy are printed at the end of the run.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.support.docker_engine import (
    ComposeProject,
    docker_client,
    docker_host,
    ensure_images,
    socket_path,
)
from tests.support.env import PROJECT_ROOT
from tests.support.figures import report
from tests.support.services import free_port, wait_for

pytestmark = pytest.mark.timeout(2400)

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
STANDINS_FILE = PROJECT_ROOT / "deploy" / "standins" / "compose.standins.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
IMAGE = "rakuten-mlops:compose-test"
PG_USER = "rakuten"
MODEL = "rakuten_classifier"
# Long-running services and their health checks; `migrate` runs once and exits 0.
HEALTHY = {"postgres", "mlflow", "dagster-code", "dagster-webserver", "dagster-daemon", "api", "hub",
           "prometheus", "gate"}
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


@dataclass
class Stack:
    project: ComposeProject
    env: dict[str, str]
    api: str
    hub: str
    gate: dict[str, str]          # service behind the gate -> its published URL
    login: tuple[str, str]
    figures: dict[str, float] = field(default_factory=dict)

    def rows(self, database: str, sql: str) -> list[list[str]]:
        return self.project.psql(database, sql, PG_USER)

    def count(self, database: str, table: str, where: str = "") -> int:
        return int(self.rows(database, f"SELECT count(*) FROM {table} {where}")[0][0])

    def champion(self) -> str:
        rows = self.rows("mlflow", "SELECT version FROM registered_model_aliases "
                                   f"WHERE name = '{MODEL}' AND alias = 'champion'")
        assert rows, "no champion alias in the registry"
        return rows[0][0]

    def logged_ids(self, marker: str) -> set[str]:
        return {r[0] for r in self.rows("rakuten", "SELECT prediction_id FROM inference_log "
                                                   f"WHERE designation LIKE '{marker}%'")}

    def wait_healthy(self, timeout: float = 600) -> float:
        started = time.monotonic()
        self.project.run("up", "-d", "--wait", "--no-build", "--pull", "never", timeout=timeout + 60)
        return time.monotonic() - started


def _write_env(path: Path, values: dict[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    host = docker_host()
    docker_client()
    tmp = tmp_path_factory.mktemp("compose")
    summary = tmp / "images.json"
    started = time.monotonic()
    ensure_images("all", summary=summary)
    build_seconds = time.monotonic() - started
    for image in json.loads(summary.read_text()):
        how = "from the cache" if image["cached"] else f"built in {image['seconds']:.0f} s"
        report(f"image {image['image']}: {image['bytes'] / 1e9:.2f} GB, {how}")
    report(f"images ready in {build_seconds:.0f} s (every build of this run)")

    sock = socket_path(host)
    assert sock is not None, f"the compose test needs a local engine socket, got DOCKER_HOST={host}"
    user, password = "ops", secrets.token_hex(12)
    ports = {name: free_port() for name in ("HUB_PORT", "API_PORT", "DAGSTER_PORT", "MLFLOW_PORT",
                                             "PROMETHEUS_PORT", "GRAFANA_PORT")}
    env = {
        "POSTGRES_USER": PG_USER, "POSTGRES_PASSWORD": secrets.token_hex(16),
        "RAKUTEN_ADMIN_TOKEN": secrets.token_hex(16),
        "RAKUTEN_FEEDBACK_TOKEN": secrets.token_hex(16),
        "RAKUTEN_HUB_USERS": f"admin:{secrets.token_hex(12)}",
        "GATE_USER": user, "GATE_PASSWORD": password,
        "GRAFANA_ADMIN_USER": "admin", "GRAFANA_ADMIN_PASSWORD": secrets.token_hex(12),
        "DOCKER_SOCKET": str(sock), "DOCKER_GID": str(sock.stat().st_gid),
        "PUBLISH_ADDRESS": "127.0.0.1", **{k: str(v) for k, v in ports.items()},
        "MLFLOW_PUBLIC_HOSTS": "localhost", "API_WORKERS": "2",
        "RAKUTEN_IMAGE": IMAGE, "RAKUTEN_SYNTHETIC_ROWS": "84916", "PROMETHEUS_RETENTION": "1d",
    }
    env_file = tmp / "stack.env"
    _write_env(env_file, env)
    project = ComposeProject(f"rakuten-ci-{uuid.uuid4().hex[:8]}", [COMPOSE_FILE, STANDINS_FILE],
                             env_file, {})
    base = "http://127.0.0.1"
    stack = Stack(project, env, api=f"{base}:{ports['API_PORT']}", hub=f"{base}:{ports['HUB_PORT']}",
                  gate={"dagster": f"{base}:{ports['DAGSTER_PORT']}", "mlflow": f"{base}:{ports['MLFLOW_PORT']}",
                        "prometheus": f"{base}:{ports['PROMETHEUS_PORT']}"},
                  login=(user, password))
    try:
        up = project.run("up", "-d", "--wait", "--no-build", "--pull", "never", timeout=1200, check=False)
        if up.returncode != 0:
            pytest.fail(f"`docker compose up -d --wait` failed:\n{up.stderr[-3000:]}\n"
                        f"{project.run('ps', '-a', check=False).stdout}\n{project.logs(tail=40)}")
        stack.figures["up"] = time.monotonic() - started - build_seconds
        report(f"docker compose up -d --wait: every service healthy {stack.figures['up']:.0f} s "
               "after the images were ready (fresh volumes)")

        t0 = time.monotonic()
        out = project.run("run", "--rm", "rakuten", "materialize", timeout=1200, check=False)
        assert out.returncode == 0 and "SUCCESS" in out.stdout, \
            f"materialize failed ({out.returncode}):\n{out.stdout[-4000:]}\n{out.stderr[-3000:]}"
        stack.figures["materialize"] = time.monotonic() - t0
        products = re.search(r"total_products=(\d+)", out.stdout)
        f1 = re.search(r"weighted_f1=([0-9.]+)", out.stdout)
        report(f"docker compose run --rm rakuten materialize: {stack.figures['materialize']:.0f} s "
               f"({products.group(1) if products else '?'} products, weighted F1 "
               f"{f1.group(1) if f1 else '?'})")
        # The API's registry poll (every 10 s) finds the first champion.
        t0 = time.monotonic()
        wait_for(lambda: httpx.get(f"{stack.api}/ready", timeout=5).status_code == 200, 120, 1,
                 "API /ready after the first champion", on_fail=lambda: project.logs("api"))
        report(f"API ready with the first champion {time.monotonic() - t0:.0f} s after materialize")
        report("grafana: validated (tests/deploy/test_deployment.py), not run: no Grafana image "
               "or package can be had on this machine")
        yield stack
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "compose-logs.txt").write_text(project.logs(tail=300))
        raise
    finally:
        project.run("down", "-v", "--remove-orphans", "--timeout", "30", timeout=300, check=False)


def predict_item(marker: str, i: int) -> dict:
    return {"designation": f"{marker}-{i} Piscine tubulaire Intex 3m pompe filtre",
            "description": "<p>Piscine hors sol ronde avec <b>pompe</b></p>"}


class Traffic(threading.Thread):
    """Steady /predict traffic (one request at a time, every `pause` s) tagged with a marker, for
    at most `limit` requests or `max_seconds`; records which predictions were answered."""

    def __init__(self, api: str, marker: str, pause: float = 0.05, limit: int = 20_000,
                 max_seconds: float = 240):
        super().__init__(daemon=True)
        self.api, self.marker, self.pause, self.limit, self.max_seconds = api, marker, pause, limit, max_seconds
        self.answered: list[tuple[float, str]] = []
        self.failed: list[tuple[float, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(base_url=self.api, timeout=httpx.Timeout(10, connect=2)) as http:
            for i in range(self.limit):
                if self.stopping.is_set() or time.monotonic() > deadline:
                    break
                now = time.monotonic()
                try:
                    response = http.post("/predict", json=predict_item(self.marker, i))
                    if response.status_code == 200:
                        self.answered.append((now, response.json()["prediction_id"]))
                    else:
                        self.failed.append((now, f"HTTP {response.status_code}"))
                except httpx.HTTPError as exc:
                    self.failed.append((now, type(exc).__name__))
                time.sleep(self.pause)

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)

    def answered_between(self, start: float, end: float) -> int:
        return sum(1 for t, _ in self.answered if start <= t <= end)

    def failed_between(self, start: float, end: float) -> list[str]:
        return [what for t, what in self.failed if start <= t <= end]


# =================================================================================================

def test_every_service_is_healthy_and_runs_the_built_image(stack):
    ps = stack.project.run("ps", "-a", "--format", "json").stdout
    rows = [json.loads(line) for line in ps.splitlines() if line.strip()]
    if len(rows) == 1 and isinstance(rows[0], list):
        rows = rows[0]
    state = {r["Service"]: r for r in rows}
    for name in HEALTHY:
        assert state[name]["State"] == "running" and state[name]["Health"] == "healthy", state[name]
    assert state["migrate"]["State"] == "exited" and state["migrate"]["ExitCode"] == 0
    assert "grafana" not in state
    for name in ("api", "hub", "mlflow", "dagster-code"):
        assert state[name]["Image"] == IMAGE
    uid = stack.project.run("exec", "-T", "api", "id", "-u").stdout.strip()
    assert uid == "10001", "the project's containers run as the unprivileged user"


def test_the_first_model_went_through_dagster_postgres_and_the_mlflow_server(stack):
    # The three databases of deploy/postgres-init.sh, in UTF8 (psycopg and MLflow need it).
    assert {r[0] for r in stack.rows("postgres", "SELECT datname FROM pg_database")} >= {"rakuten", "mlflow", "dagster"}
    assert stack.rows("rakuten", "SHOW server_encoding") == [["UTF8"]]
    assert stack.count("rakuten", "products") > 40_000
    # The daemon may already be running a scheduled drift report (cron */30) or a sensor's run:
    # none may have failed, and the model's own run (tied below through MLflow) succeeded.
    runs = {run_id: status for run_id, status in stack.rows("dagster", "SELECT run_id, status FROM runs")}
    assert runs and not {"FAILURE", "CANCELED"} & set(runs.values()), runs
    version = stack.champion()
    run_id = stack.rows("mlflow", f"SELECT run_id FROM model_versions WHERE name = '{MODEL}' "
                                  f"AND version = {int(version)}")[0][0]
    # Artifacts proxied by the server into its volume, not written by the client.
    # MLflow 3 keeps the run's own artifacts under <experiment>/<run id>/ and the logged model
    # under <experiment>/models/m-<id>/: both in the server's volume.
    found = stack.project.run("exec", "-T", "mlflow", "sh", "-c",
                              f"find /mlartifacts -maxdepth 2 -name '{run_id}'; "
                              "find /mlartifacts -path '*/models/*' -name MLmodel").stdout
    assert run_id in found and "MLmodel" in found, found
    # The run as the tracking server reports it (through the gate).
    run = httpx.get(f"{stack.gate['mlflow']}/api/2.0/mlflow/runs/get", params={"run_id": run_id},
                    auth=stack.login, timeout=30).json()["run"]
    metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
    tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    assert metrics.get("test_weighted_f1", 0) > 0.6, metrics
    assert runs.get(tags.get("dagster_run_id")) == "SUCCESS", \
        ("the MLflow run is tied to a successful Dagster run of this stack", tags.get("dagster_run_id"), runs)


def test_predict_and_batch_answer_on_the_published_port(stack):
    version = stack.champion()
    one = httpx.post(f"{stack.api}/predict", json=predict_item("ci-one", 0), timeout=30)
    assert one.status_code == 200, one.text
    assert one.json()["model_version"] == version
    items = [predict_item("ci-batch", i) for i in range(50)]
    batch = httpx.post(f"{stack.api}/predict/batch", json={"items": items}, timeout=60)
    assert batch.status_code == 200, batch.text
    predictions = batch.json()["predictions"]
    assert len(predictions) == 50 and {p["model_version"] for p in predictions} == {version}
    wrong = httpx.post(f"{stack.api}/predict", json={"designation": ""}, timeout=30)
    assert wrong.status_code == 422, "bad input gets a clear 4xx, never a 500"


def test_prometheus_has_the_api_target_up_and_the_alert_rules(stack):
    auth = stack.login
    prometheus = stack.gate["prometheus"]

    def api_target_up():
        body = httpx.get(f"{prometheus}/api/v1/targets", auth=auth, timeout=10).json()
        return [t for t in body["data"]["activeTargets"]
                if t["labels"].get("job") == "rakuten-api" and t["health"] == "up"]

    wait_for(api_target_up, 90, 1, "Prometheus scraping the API (target up)")
    rules = httpx.get(f"{prometheus}/api/v1/rules", auth=auth, timeout=10).json()["data"]["groups"]
    loaded = {r["name"] for g in rules for r in g["rules"] if r["type"] == "alerting"}
    expected = set(re.findall(r"^\s*- alert:\s*(\S+)", (PROJECT_ROOT / "monitoring" / "alerts.yml").read_text(), re.M))
    assert expected and loaded == expected, (loaded, expected)
    served = httpx.get(f"{prometheus}/api/v1/query", params={"query": "sum(rakuten_predictions_total)"},
                       auth=auth, timeout=10).json()
    assert served["status"] == "success"


def test_the_gate_is_the_only_way_in_to_mlflow_dagster_and_prometheus(stack):
    user, password = stack.login
    checks = {
        "mlflow": ("GET", f"/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias=champion", None),
        "dagster": ("POST", "/graphql", {"query": "{ version }"}),
        "prometheus": ("GET", "/api/v1/status/buildinfo", None),
    }
    with httpx.Client(timeout=15) as http:
        for service, (method, path, body) in checks.items():
            url = stack.gate[service] + path
            anonymous = http.request(method, url, json=body)
            assert anonymous.status_code == 401, (service, anonymous.status_code)
            assert "basic" in anonymous.headers.get("www-authenticate", "").lower()
            wrong = http.request(method, url, json=body, auth=(user, password + "x"))
            assert wrong.status_code == 401, (service, wrong.status_code)
            right = http.request(method, url, json=body, auth=(user, password))
            assert right.status_code == 200, (service, right.status_code, right.text[:300])
        # The attack of issue 13: moving the alias without credentials.
        version = stack.champion()
        moved = http.post(stack.gate["mlflow"] + "/api/2.0/mlflow/registered-models/alias",
                          json={"name": MODEL, "alias": "champion", "version": "1"})
        assert moved.status_code == 401 and stack.champion() == version
        # Prometheus's lifecycle API is off: even a logged-in /-/quit is refused.
        quit_ = http.post(stack.gate["prometheus"] + "/-/quit", auth=(user, password))
        assert quit_.status_code == 403, quit_.status_code
        assert http.get(stack.gate["prometheus"] + "/-/ready", auth=(user, password)).status_code == 200
    client = docker_client()
    for service in ("mlflow", "dagster-webserver", "prometheus", "postgres", "dagster-code"):
        (container,) = client.containers.list(filters={"label": [
            f"com.docker.compose.project={stack.project.name}", f"com.docker.compose.service={service}"]})
        bindings = {port: b for port, b in (container.attrs["NetworkSettings"]["Ports"] or {}).items() if b}
        assert not bindings, f"{service} is published on the host ({bindings}): only via the gate"
    (gate,) = client.containers.list(filters={"label": [
        f"com.docker.compose.project={stack.project.name}", "com.docker.compose.service=gate"]})
    published = {int(b[0]["HostPort"]) for b in gate.attrs["NetworkSettings"]["Ports"].values() if b}
    assert published == {int(urlparse(url).port) for url in stack.gate.values()}


def test_the_hub_sees_the_stacks_containers(stack):
    code = (
        "import json\n"
        "from rakuten_assets.core.settings import get_settings\n"
        "from gradio_hub.context import HubContext\n"
        "from gradio_hub.tabs.overview import probes\n"
        "ctx = HubContext(get_settings())\n"
        "rows = {h.service: h.detail for h in probes(ctx)}\n"
        "found = [dict(service=c.service, state=c.state, health=c.health, self=c.is_self,\n"
        "              uptime=c.uptime_seconds(), restarts=c.restart_count) for c in ctx.docker.containers()]\n"
        "from gradio_hub.tabs.infrastructure import docker_view\n"
        "infra_html, infra_names = docker_view(ctx)\n"
        "print(json.dumps(dict(project=ctx.docker.project, overview=rows.get('Docker'), containers=found,\n"
        "                      infrastructure=infra_html, infrastructure_names=infra_names)))\n")
    out = stack.project.run("exec", "-T", "hub", "python", "-c", code, timeout=120).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["project"] == stack.project.name, "the hub finds its own compose project"
    by_service = {c["service"]: c for c in seen["containers"]}
    assert HEALTHY <= set(by_service), set(by_service)
    for name in HEALTHY:
        assert by_service[name]["state"] == "running" and by_service[name]["health"] == "healthy"
        assert by_service[name]["uptime"] > 0
    assert by_service["hub"]["self"] and not by_service["api"]["self"]
    overview = seen["overview"] or ""
    assert re.match(rf"{len(HEALTHY)}/{len(seen['containers'])} containers running", overview), overview
    assert "api (healthy)" in overview and "WARNING" not in overview
    # The Infrastructure tab's table and its log/control chooser list the same containers.
    assert set(seen["infrastructure_names"]) == set(by_service), seen["infrastructure_names"]
    html = seen["infrastructure"]
    assert f"compose project {stack.project.name}" in html, html[:300]
    for name in HEALTHY:
        assert name in html
    assert html.count("running · healthy") >= len(HEALTHY), html


def test_restarting_the_api_under_traffic_loses_no_answered_prediction(stack):
    marker = f"ci-restart-{uuid.uuid4().hex[:8]}"
    traffic = Traffic(stack.api, marker)
    traffic.start()
    time.sleep(5)
    restart_started = time.monotonic()
    stack.project.run("restart", "api", timeout=300)
    wait_for(lambda: httpx.get(f"{stack.api}/ready", timeout=5).status_code == 200, 180, 1, "API ready again")
    back = time.monotonic()
    time.sleep(5)
    traffic.stop()
    answered = {pid for _, pid in traffic.answered}
    assert traffic.answered_between(0, restart_started) > 10, "traffic before the restart"
    assert traffic.answered_between(back, time.monotonic()) > 10, "traffic after the restart"
    logged = wait_for(lambda: (ids := stack.logged_ids(marker)) >= answered and ids, 60, 1,
                      "every answered prediction in the inference log")
    missing = answered - logged
    assert not missing, f"{len(missing)} answered predictions not logged"
    report(f"docker compose restart api under traffic: {len(answered)} answered, all "
           f"{len(answered)} in the inference log; {len(traffic.failed)} refused while restarting; "
           f"ready again after {back - restart_started:.0f} s")


def test_a_postgres_outage_under_traffic(stack):
    """30 s without PostgreSQL: the API keeps answering from the loaded model; the inference log
    waits in memory and lands once the database is back."""
    marker = f"ci-outage-{uuid.uuid4().hex[:8]}"
    before = stack.count("rakuten", "inference_log")
    traffic = Traffic(stack.api, marker, max_seconds=300)
    traffic.start()
    time.sleep(3)
    stack.project.run("stop", "postgres", timeout=120)
    down_at = time.monotonic()
    time.sleep(30)
    during = traffic.answered_between(down_at, time.monotonic())
    failed = traffic.failed_between(down_at, time.monotonic())
    stack.project.run("start", "postgres", timeout=120)
    up_at = time.monotonic()
    time.sleep(3)
    traffic.stop()
    assert during > 100, f"only {during} predictions answered during the outage"
    assert not failed, f"{len(failed)} requests failed while PostgreSQL was down: {failed[:5]}"
    answered = {pid for _, pid in traffic.answered}
    logged = wait_for(lambda: (ids := stack.logged_ids(marker)) >= answered and ids, 180, 1,
                      "the outage's predictions in the inference log")
    assert not answered - logged
    assert stack.count("rakuten", "inference_log") >= before + len(answered)
    landed = time.monotonic() - up_at
    # The rest of the stack recovers by itself (MLflow and Dagster lost their database too).
    recovered = stack.wait_healthy()
    report(f"PostgreSQL stopped 30 s under traffic: {during} predictions answered meanwhile, 0 "
           f"failed; all {len(answered)} logged {landed:.0f} s after it was back; every service "
           f"healthy again {recovered:.0f} s later")


def test_down_then_up_keeps_products_runs_models_aliases_and_the_inference_log(stack):
    def state():
        return {
            "products": stack.count("rakuten", "products"),
            "load_batches": stack.count("rakuten", "load_batches"),
            "inference_log": stack.count("rakuten", "inference_log"),
            # Ids, not a count: the drift report's schedule (every 30 min, running by default)
            # may log a run to the monitoring experiment while the stack is down and up again.
            "mlflow runs": {r[0] for r in stack.rows("mlflow", "SELECT run_uuid FROM runs")},
            "model versions": stack.count("mlflow", "model_versions"),
            "champion": stack.champion(),
            "dagster runs": {r[0] for r in stack.rows("dagster", "SELECT run_id FROM runs")},
        }

    # This test's own predictions, so that the log it checks is not empty whatever ran before;
    # then wait for the API's buffer to hold none of them: the counts must not move by themselves.
    marker = f"ci-down-{uuid.uuid4().hex[:8]}"
    answered = {httpx.post(f"{stack.api}/predict", json=predict_item(marker, i), timeout=30).json()["prediction_id"]
                for i in range(5)}
    wait_for(lambda: stack.logged_ids(marker) >= answered, 60, 1, "this test's predictions in the log")
    before = state()
    assert before["inference_log"] >= len(answered) and before["model versions"] >= 1
    stack.project.run("down", "--timeout", "30", timeout=300)
    assert not stack.project.run("ps", "-a", "-q").stdout.strip(), "containers left after down"
    seconds = stack.wait_healthy()
    after = state()
    assert after["dagster runs"] >= before["dagster runs"], "Dagster runs lost"
    assert after["mlflow runs"] >= before["mlflow runs"], "MLflow runs lost"
    new_runs = after["mlflow runs"] - before["mlflow runs"]
    if new_runs:
        experiments = stack.rows("mlflow", "SELECT DISTINCT e.name FROM runs r JOIN experiments e "
                                 "ON e.experiment_id = r.experiment_id WHERE r.run_uuid IN ("
                                 + ", ".join(f"'{run}'" for run in new_runs) + ")")
        assert {row[0] for row in experiments} == {"rakuten_classifier_monitoring"}, experiments
    for key in ("products", "load_batches", "inference_log", "model versions", "champion"):
        assert after[key] == before[key], (key, before[key], after[key])
    assert stack.logged_ids(marker) == answered, "the predictions made before down are still logged"
    wait_for(lambda: httpx.get(f"{stack.api}/ready", timeout=5).status_code == 200, 180, 1, "API ready after up")
    answer = httpx.post(f"{stack.api}/predict", json=predict_item("ci-after-up", 0), timeout=30).json()
    assert answer["model_version"] == before["champion"]
    report(f"docker compose down, then up: every service healthy again in {seconds:.0f} s; kept "
           f"{after['products']} products, {after['inference_log']} inference rows, "
           f"{len(after['mlflow runs'])} MLflow runs, {after['model versions']} model versions, "
           f"champion v{after['champion']}")


def test_placeholder_secrets_are_refused_with_one_line_each(stack, tmp_path):
    """.env.example as it is: every process of the project's image and the gate refuse to start,
    naming the variable to set."""
    project = ComposeProject(f"rakuten-ci-secrets-{uuid.uuid4().hex[:6]}", [COMPOSE_FILE, STANDINS_FILE],
                             ENV_EXAMPLE, {"RAKUTEN_IMAGE": IMAGE,
                                           # the engine's real socket: a missing bind source
                                           # would be created on the host as a directory
                                           "DOCKER_SOCKET": str(socket_path(docker_host()))})
    expected = {
        "migrate": ["POSTGRES_PASSWORD"],
        "api": ["POSTGRES_PASSWORD", "RAKUTEN_ADMIN_TOKEN", "RAKUTEN_FEEDBACK_TOKEN"],
        "hub": ["POSTGRES_PASSWORD", "RAKUTEN_ADMIN_TOKEN", "RAKUTEN_FEEDBACK_TOKEN", "RAKUTEN_HUB_USERS"],
        "gate": ["GATE_PASSWORD"],
    }
    try:
        for service, variables in expected.items():
            out = project.run("run", "--rm", "--no-deps", service, timeout=180, check=False)
            text = out.stdout + out.stderr
            assert out.returncode != 0, f"{service} started with the placeholders of .env.example"
            assert "Traceback" not in text, text
            lines = [line for line in text.splitlines() if "placeholder" in line]
            for variable in variables:
                assert any(variable in line for line in lines), (service, variable, text[-2000:])
    finally:
        project.run("down", "-v", "--remove-orphans", timeout=120, check=False)


def test_the_image_outside_compose_says_what_is_missing(stack):
    client = docker_client()
    container = client.containers.run(IMAGE, ["materialize"], detach=True, network_mode="none")
    try:
        code = container.wait(timeout=120)["StatusCode"]
        err = container.logs(stdout=False, stderr=True).decode()
    finally:
        container.remove(force=True)
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "DAGSTER_PG_URL" in lines[0] and "Traceback" not in err, err


def test_the_users_compose_file_keeps_the_official_images(stack):
    """The stand-ins live in the test's override only; docker-compose.yml itself, Grafana
    included, names the official images and passes Compose's own validation."""
    plain = ComposeProject("rakuten-config-check", [COMPOSE_FILE], ENV_EXAMPLE, {})
    config = json.loads(plain.run("config", "--format", "json", timeout=60).stdout)
    images = {name: svc.get("image", "") for name, svc in config["services"].items()}
    assert images["postgres"].startswith("postgres:")
    assert images["prometheus"].startswith("prom/prometheus:")
    assert images["gate"].startswith("caddy:")
    assert images["grafana"].startswith("grafana/grafana")
    assert "rakuten-standin" not in json.dumps(config)
    assert "--web.enable-lifecycle" not in config["services"]["prometheus"]["command"]
