"""The API as it runs in production: a real uvicorn process. Hot swap under concurrent load,
a broken new version, SIGTERM flushing the inference log, MLflow down at start then back, and
schemathesis against the live OpenAPI schema."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.env import project_home
from tests.support.models import register_version
from tests.support.services import LiveServer, MlflowServer, free_port, wait_for

TOKEN = "live-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WORDS = ["Figurine", "Pokémon", "Piscine", "tubulaire", "Jeu", "PS4", "Coussin", "coton",
         "Livre", "poche", "Lampe", "LED", "Robot", "Console", "Drone", "🦄", "<b>promo</b>"]


def random_item(rng: random.Random) -> dict:
    item = {"designation": " ".join(rng.choices(WORDS, k=rng.randint(1, 6)))}
    if rng.random() < 0.5:
        item["description"] = " ".join(rng.choices(WORDS, k=rng.randint(0, 20)))
    return item


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("api_live")
    with project_home(root, RAKUTEN_ADMIN_TOKEN=TOKEN, RAKUTEN_API_POLL_SECONDS="0.5") as settings:
        version = register_version(settings)
        with LiveServer(root) as server:
            wait_for(lambda: httpx.get(server.url + "/ready").status_code == 200, 60, 0.3,
                     "model loaded")
            yield server, settings, version, root


def test_hot_swap_under_concurrent_load(live):
    server, settings, v1, _ = live
    stop = threading.Event()
    outcomes: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def hammer(seed: int):
        rng = random.Random(seed)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                try:
                    r = client.post("/predict", json=random_item(rng))
                    version = r.json().get("model_version") if r.status_code == 200 else None
                    result = (r.status_code, version)
                except httpx.HTTPError as exc:
                    result = (-1, repr(exc))
                with lock:
                    outcomes.append(result)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(outcomes) > 50, 60, 0.1, "load to start")
        v2 = register_version(settings)  # moves the alias: the poller (0.5 s) picks it up
        wait_for(lambda: any(v == v2 for _, v in outcomes[-50:]), 120, 0.2, "the new version")
        served_after = len(outcomes)
        wait_for(lambda: len(outcomes) > served_after + 100, 60, 0.1, "more load after the swap")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    failures = [o for o in outcomes if o[0] != 200]
    assert not failures, failures[:5]
    versions = {v for _, v in outcomes}
    assert versions == {v1, v2}
    info = httpx.get(server.url + "/model").json()
    assert info["version"] == v2
    metrics = httpx.get(server.url + "/metrics").text
    assert f'rakuten_model_info{{alias="champion",name="rakuten_classifier",version="{v2}"}} 1.0' in metrics
    assert f'version="{v1}"' not in metrics.split("rakuten_model_info")[-1].split("\n# ")[0]


def test_broken_new_version_keeps_the_old_one_serving(live, tmp_path):
    from rakuten_assets.core.promotion import MOVE_BY_PERSON, MOVE_ROLLBACK, move_champion
    from rakuten_assets.core.registry import ModelRegistry
    from rakuten_assets.core.store import ProductStore

    server, settings, _, _ = live
    serving = httpx.get(server.url + "/model").json()["version"]
    registry = ModelRegistry(settings)
    store = ProductStore(settings.db_url)
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    broken = registry.client.create_model_version(settings.model_name, source=str(empty))
    move_champion(registry, store, broken.version, kind=MOVE_BY_PERSON, actor="test",
                  reason="a broken promotion")
    try:
        r = httpx.post(server.url + "/admin/reload", headers=AUTH, timeout=60)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["changed"] is False and body["version"] == serving
        assert f"version {broken.version}" in body["error"] and "failed to load" in body["error"]
        assert httpx.get(server.url + "/model").json()["version"] == serving
        assert httpx.get(server.url + "/ready").status_code == 200
        p = httpx.post(server.url + "/predict", json={"designation": "Jeu PS4"})
        assert p.status_code == 200 and p.json()["model_version"] == serving
        metrics = httpx.get(server.url + "/metrics").text
        assert 'rakuten_model_load_failures_total{stage="load"}' in metrics
    finally:  # roll the alias back, as an operator would
        move_champion(registry, store, serving, kind=MOVE_ROLLBACK, actor="test", reason="rollback")


def test_batches_of_clients_that_hung_up_are_dropped(live):
    server = live[0]
    rng = random.Random(11)
    body = {"items": [random_item(rng) for _ in range(256)]}

    def dropped() -> float:
        text = httpx.get(server.url + "/metrics").text
        for line in text.splitlines():
            if line.startswith('rakuten_api_errors_total{error_type="client_disconnected"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = dropped()
    payload = json.dumps(body).encode()
    request = (b"POST /predict/batch HTTP/1.1\r\nHost: test\r\nContent-Type: application/json"
               b"\r\nContent-Length: %d\r\n\r\n" % len(payload)) + payload
    clients = []
    for _ in range(24):  # 6,144 items fully sent, then every client hangs up
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(request)
        clients.append(sock)
    for sock in clients:
        sock.close()
    wait_for(lambda: dropped() > before, 60, 0.3, "abandoned batches to be dropped")
    r = httpx.post(server.url + "/predict/batch", json=body, timeout=60)
    assert r.status_code == 200 and len(r.json()["predictions"]) == 256


def test_schemathesis_finds_no_server_error(live):
    server, _, _, root = live
    cmd = [str(Path(sys.executable).with_name("schemathesis")), "run", server.url + "/openapi.json",
           "--checks", "not_a_server_error", "--max-examples", "25", "--seed", "7",
           "--request-timeout", "20", "--header", f"Authorization: Bearer {TOKEN}",
           "--generation-allow-x00", "true", "--no-color"]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=240)
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert "5xx" not in report.lower() or "no issues found" in report.lower(), report
    log = server.log_tail(200_000)
    assert "unexpected error on" not in log and "Exception in ASGI application" not in log


def test_sigterm_flushes_every_prediction_to_the_log(live, tmp_path):
    from rakuten_assets.core.store import ProductStore

    _, settings, _, root = live
    db_url = f"sqlite:///{tmp_path / 'sigterm.db'}"
    server = LiveServer(root, env={"RAKUTEN_DATABASE_URL": db_url,
                                   "RAKUTEN_INFERENCE_LOG_FLUSH_SECONDS": "5"}).start(wait="ready")
    served = 0

    async def load():
        nonlocal served
        rng = random.Random(5)
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
            async def worker(n: int):
                nonlocal served
                for i in range(n):
                    if i % 50 == 0:
                        r = await client.post("/predict/batch",
                                              json={"items": [random_item(rng) for _ in range(20)]})
                        served += 20 if r.status_code == 200 else 0
                    else:
                        r = await client.post("/predict", json=random_item(rng))
                        served += 1 if r.status_code == 200 else 0
                    assert r.status_code == 200, r.text
            await asyncio.gather(*(worker(130) for _ in range(16)))

    try:
        asyncio.run(load())
        assert served >= 2000
        # uvicorn re-raises the signal once its graceful shutdown is done: -SIGTERM or 0
        assert server.terminate() in (0, -15), server.log_tail()
    finally:
        server.stop()
    store = ProductStore(db_url)
    assert store.count_inference_rows() == served, server.log_tail()
    assert "rows written, 0 dropped" in server.log_tail()


def test_sigterm_loses_no_accepted_label(live, tmp_path):
    """Clients post labels while the server is stopped: every label answered 2xx is in the store
    afterwards (a label is committed before its answer is sent)."""
    from rakuten_assets.core.feedback import labels_frame
    from rakuten_assets.core.store import ProductStore

    _, settings, _, root = live
    db_url = f"sqlite:///{tmp_path / 'labels.db'}"
    server = LiveServer(root, env={"RAKUTEN_DATABASE_URL": db_url, "RAKUTEN_FEEDBACK_TOKEN": "sig-token"}
                        ).start(wait="ready")
    auth = {"Authorization": "Bearer sig-token"}
    rng = random.Random(9)
    answers = httpx.post(server.url + "/predict/batch", json={"items": [random_item(rng) for _ in range(200)]},
                         timeout=30).json()["predictions"]
    accepted: list[str] = []

    async def label_until_stopped():
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            async def worker(chunk):
                for answer in chunk:
                    try:
                        r = await client.post("/feedback", headers=auth,
                                              json={"prediction_id": answer["prediction_id"], "prdtypecode": 10})
                    except httpx.HTTPError:
                        return  # the server is gone: the rest were never accepted
                    if r.status_code in (200, 201):
                        accepted.append(answer["prediction_id"])
            await asyncio.gather(*(worker(answers[i::8]) for i in range(8)))

    stopper = threading.Timer(0.6, server.proc.send_signal, args=(signal.SIGTERM,))
    try:
        stopper.start()
        asyncio.run(label_until_stopped())
        server.proc.wait(60)
    finally:
        stopper.cancel()
        server.stop()
    assert accepted, "no label was accepted before the stop"
    stored = set(labels_frame(ProductStore(db_url))["prediction_id"])
    assert set(accepted) <= stored, f"{len(set(accepted) - stored)} accepted labels lost"


def test_sigterm_during_long_batches_answers_every_request_in_json(live, tmp_path):
    """The attack (issue 13): SIGTERM while long batches ran gave 6 plain-text 500s. Six batches
    of 256 long texts and single predictions are in flight when the server is stopped: every
    answer is a 200 with its predictions, or the JSON 503 `shutting_down` (uvicorn cancels what
    is still running when its graceful shutdown time is over); never a 500, never plain text.
    Every prediction answered is in the inference log."""
    from rakuten_assets.core.store import ProductStore

    _, _, _, root = live
    db_url = f"sqlite:///{tmp_path / 'sigterm-batches.db'}"
    # A twentieth of a second of grace rather than 15: the six batches queue for the one model
    # thread (each takes a tenth of a second or more), so some are still running when it ends,
    # however fast the machine. (With a second of grace a quiet machine finished all six.)
    server = LiveServer(root, env={"RAKUTEN_DATABASE_URL": db_url,
                                   "RAKUTEN_API_SHUTDOWN_GRACE_SECONDS": "0.05"}).start(wait="ready")
    rng = random.Random(13)

    def long_item() -> dict:
        return {"designation": " ".join(rng.choices(WORDS, k=8)),
                "description": " ".join(rng.choices(WORDS, k=1500))[:8000]}

    batches = [[long_item() for _ in range(256)] for _ in range(6)]
    answers: list[tuple[str, httpx.Response]] = []
    stopped_at: list[float] = []

    async def scenario():
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
            async def batch(items):
                with contextlib.suppress(httpx.TransportError):  # refused: never accepted
                    answers.append(("batch", await client.post("/predict/batch", json={"items": items})))

            async def singles(seed: int):
                item_rng = random.Random(seed)
                while not stopped_at or time.monotonic() - stopped_at[0] < 2:
                    try:
                        r = await client.post("/predict", json=random_item(item_rng))
                    except httpx.TransportError:
                        return  # the server closed this connection or refuses new ones
                    answers.append(("single", r))

            async def stop_when_busy():
                await asyncio.sleep(0.5)  # the batches are sent and being predicted
                stopped_at.append(time.monotonic())
                server.proc.send_signal(signal.SIGTERM)

            await asyncio.gather(*(batch(b) for b in batches), *(singles(i) for i in range(4)),
                                 stop_when_busy())

    try:
        asyncio.run(scenario())
        assert server.proc.wait(90) in (0, -15), server.log_tail()
    finally:
        server.stop()
    kinds = Counter((kind, r.status_code) for kind, r in answers)
    print("answers:", dict(kinds))
    answered_ids = []
    for kind, r in answers:
        assert r.headers.get("content-type", "").startswith("application/json"), (kind, r.status_code, r.text[:200])
        body = r.json()
        if r.status_code == 200:
            answered_ids += [p["prediction_id"] for p in body["predictions"]] if kind == "batch" \
                else [body["prediction_id"]]
        else:
            assert (r.status_code, body["error"]) == (503, "shutting_down"), (kind, r.status_code, body)
            assert r.headers["retry-after"]
    # The stop caught the batches in flight: each got an answer (none was refused at the door),
    # and some were still running when the grace was over (the path of the attack).
    assert sum(n for (kind, _), n in kinds.items() if kind == "batch") == len(batches), kinds
    assert kinds[("batch", 503)] >= 1, kinds
    logged = set(ProductStore(db_url).read_inference_log()["prediction_id"])
    assert set(answered_ids) <= logged, f"{len(set(answered_ids) - logged)} answered predictions not logged"
    assert "Exception in ASGI application" not in server.log_tail(200_000)


def test_mlflow_down_at_start_then_back(tmp_path_factory):
    root = tmp_path_factory.mktemp("api_mlflow_down")
    port = free_port()
    backend = f"sqlite:///{root / 'mlflow-backend.db'}"
    with project_home(root, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{port}") as settings:
        # A champion exists in the registry's database, but nothing serves it yet.
        version = register_version(settings.model_copy(update={"mlflow_tracking_uri": backend}))
        # (mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI: say which one the API gets)
        with LiveServer(root, env={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}) as server:
            # Start-up no longer waits on MLflow (issue 13): the first check may still run.
            ready = wait_for(lambda: (r := httpx.get(server.url + "/ready")).status_code == 503
                             and "unreachable" in r.json()["reason"] and r, 60, 0.3,
                             "MLflow reported unreachable")
            # ...and its address stays internal: the log has it, the client does not.
            assert str(port) not in ready.json()["reason"]
            r = httpx.post(server.url + "/predict", json={"designation": "Jeu PS4"})
            assert r.status_code == 503 and "unreachable" in r.json()["detail"]
            assert httpx.get(server.url + "/health").status_code == 200
            # MLflow comes back: a real tracking server on that database.
            mlflow_server = MlflowServer(root, backend, port).start()
            try:
                wait_for(lambda: httpx.get(server.url + "/ready").status_code == 200, 120, 0.5,
                         "recovery")
                p = httpx.post(server.url + "/predict", json={"designation": "Jeu PS4"})
                assert p.status_code == 200 and p.json()["model_version"] == version
                assert httpx.get(server.url + "/model").json()["version"] == version
            finally:
                mlflow_server.stop()
            # MLflow going away again does not stop the service serving what it has.
            time.sleep(1.5)
            assert httpx.post(server.url + "/predict", json={"designation": "Lampe"}).status_code == 200
            assert httpx.get(server.url + "/ready").status_code == 200
