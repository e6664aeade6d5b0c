"""Issue 13's attacks on a real uvicorn process (what `rakuten api` runs), each with a variant:
an endless header, too many headers, a half-sent request (slowloris), a silent connection,
more idle connections than the cap, a hung MLflow at start and on /admin/reload. And in process:
a request still running when uvicorn cancels it at shutdown gets the JSON 503, not a plain 500."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading

import httpx
import pytest

from tests.support.env import project_home
from tests.support.services import LiveServer

TOKEN = "hardening-admin-token"


def _read_all(sock: socket.socket, limit: float = 30.0) -> bytes:
    """Everything the server sends until it closes the connection (`limit` is a guard against
    a hang, not a measurement)."""
    sock.settimeout(limit)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def _json_error(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower()
    return status, json.loads(body)


class HungServer:
    """A TCP server that accepts connections and never answers: an MLflow that hangs."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.held.append(conn)
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self):
        self.stop.set()
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The API with small limits so each attack is cheap, and an MLflow that hangs."""
    root = tmp_path_factory.mktemp("api_hardening")
    hung = HungServer()
    env = dict(RAKUTEN_ADMIN_TOKEN=TOKEN, RAKUTEN_MLFLOW_TRACKING_URI=f"http://127.0.0.1:{hung.port}",
               RAKUTEN_API_MAX_HEADER_BYTES="16384", RAKUTEN_API_MAX_HEADERS="30",
               RAKUTEN_API_READ_TIMEOUT_SECONDS="1", RAKUTEN_API_MAX_CONNECTIONS="20",
               RAKUTEN_API_POLL_SECONDS="3600", MLFLOW_HTTP_REQUEST_TIMEOUT="60")
    try:
        with project_home(root, **env), LiveServer(root, env=env) as server:
            yield server, hung
    finally:
        hung.close()


def _connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def test_health_answers_while_mlflow_hangs_and_errors_hide_its_url(api):
    server, hung = api
    # The lifespan's first check is still waiting on the hung MLflow (its client timeout is
    # 60 s here), yet /health answers: start-up did not wait for it.
    assert httpx.get(server.url + "/health", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(server.url + "/ready", timeout=10)
    assert ready.status_code == 503 and "unreachable" not in ready.json()["reason"]
    # /admin/reload does not hold the caller for the whole MLflow timeout either.
    reload = httpx.post(server.url + "/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=60)
    assert reload.status_code == 202 and "in the background" in reload.json()["error"]
    for text in (reload.text, ready.text):
        assert str(hung.port) not in text and "127.0.0.1" not in text


def test_an_endless_header_is_refused_before_it_is_read(api):
    server, _ = api
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        try:  # the attack: a header that never ends (120 MB in the issue)
            for _ in range(200):
                sock.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, body = _json_error(_read_all(sock))
    assert status == 431 and body["error"] == "headers_too_large"
    assert sent < 200 * 65536  # the server closed the connection before the attacker finished


def test_many_small_headers_are_refused(api):
    server, _ = api
    headers = "".join(f"X-H{i}: {i}\r\n" for i in range(100))  # variant: count, not size
    with _connect(server) as sock:
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        status, body = _json_error(_read_all(sock))
    assert status == 431 and body["error"] == "too_many_headers"


def test_headers_within_the_limits_are_served(api):
    server, _ = api
    headers = {f"X-H{i}": "v" * 200 for i in range(20)}
    assert httpx.get(server.url + "/health", headers=headers, timeout=10).status_code == 200


def test_a_half_sent_request_is_closed_with_a_408(api):
    server, _ = api
    with _connect(server) as sock:  # slowloris: the head never completes
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        status, body = _json_error(_read_all(sock))
    assert status == 408 and body["error"] == "request_timeout"
    with _connect(server) as sock:  # variant: a body announced and never sent
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"designation\": ")
        status, body = _json_error(_read_all(sock))
    assert status == 408


def test_a_silent_connection_is_closed(api):
    server, _ = api
    with _connect(server) as sock:
        assert _read_all(sock).startswith(b"HTTP/1.1 408")


def test_idle_connections_cannot_lock_clients_out(tmp_path):
    # A read timeout far longer than the test: only the connection cap can close these.
    env = dict(RAKUTEN_API_READ_TIMEOUT_SECONDS="600", RAKUTEN_API_MAX_CONNECTIONS="20")
    with project_home(tmp_path, **env), LiveServer(tmp_path, env=env) as server:
        idle = [_connect(server) for _ in range(40)]  # twice the cap
        try:
            # Each one past the cap closed the oldest waiting one, so new clients still get in.
            assert httpx.get(server.url + "/health", timeout=10).status_code == 200
            for sock in idle[:20]:  # the oldest ones went first: closed, no answer
                sock.settimeout(10)
                try:
                    assert sock.recv(1) == b""
                except ConnectionResetError:
                    pass
            # The newest stay open (one of the 21st and later made room for httpx's connection).
            readable, _, _ = select.select(idle[21:], [], [], 1.0)
            assert readable == []
        finally:
            for sock in idle:
                sock.close()


def test_request_cancelled_at_shutdown_gets_the_json_503():
    """uvicorn cancels requests still running when its graceful-shutdown time is over; the
    middleware answers them in the API's error format (a plain-text 500 before)."""
    from api.errors import HttpMiddleware
    from api.metrics import Metrics

    started = asyncio.Event()

    async def slow_app(scope, receive, send):
        started.set()
        await asyncio.sleep(3600)  # a long batch in the model thread

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def scenario():
        middleware = HttpMiddleware(slow_app, metrics=Metrics(), max_body=1024)
        scope = {"type": "http", "method": "POST", "path": "/predict/batch", "headers": []}
        task = asyncio.ensure_future(middleware(scope, receive, send))
        await started.wait()
        task.cancel()
        await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 503
    assert json.loads(sent[1]["body"])["error"] == "shutting_down"


def test_a_prediction_failing_as_the_model_thread_stops_gets_the_json_503(rakuten_env):
    """The other way a SIGTERM reached clients as a 500: a single prediction queued behind a long
    batch when the lifespan's shutdown stops the micro-batcher fails with RuntimeError, which the
    catch-all handler answers as the JSON 503 once `shutting_down` is set (the real routes and
    service, a fake model). Variant: the same failure outside a shutdown stays a JSON 500."""
    from fastapi import FastAPI

    from api.engine.service import PredictionService
    from api.errors import install_error_handlers
    from api.metrics import Metrics
    from api.routes import prediction
    from api.schemas import build_request_models

    batch_running = threading.Event()
    release = threading.Event()

    class Predictor:
        def predict(self, titles, bodies):
            if titles[0] == "long batch":
                batch_running.set()
                release.wait(10)
            return [(10, "x", 1.0, [], None) for _ in titles]

    class Model:
        version = "7"
        predictor = Predictor()

    class Writer:
        def __init__(self):
            self.rows = []

        def add(self, rows):
            self.rows.extend(rows)

    metrics = Metrics()
    service = PredictionService(rakuten_env, metrics, writer=Writer())
    service.holder.current = Model()
    app = FastAPI()
    app.state.service = service
    app.state.shutting_down = False
    install_error_handlers(app, metrics)
    app.include_router(prediction.build_router(build_request_models(1000, 256), 256))

    async def scenario():
        service.start()
        # raise_app_exceptions=False: what uvicorn would send, not the exception, reaches us.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=30) as client:
            batch = asyncio.ensure_future(client.post("/predict/batch", json={"items": [{"designation": "long batch"}]}))
            await asyncio.to_thread(batch_running.wait, 10)
            single = asyncio.ensure_future(client.post("/predict", json={"designation": "Lampe"}))
            await asyncio.sleep(0.1)  # the single prediction waits behind the batch
            app.state.shutting_down = True  # what the lifespan's shutdown does first...
            await service.batcher.stop()    # ...then the micro-batcher stops
            stopped = await single
            # After the stop, outside a shutdown: the same RuntimeError is a server error.
            app.state.shutting_down = False
            late = await client.post("/predict", json={"designation": "Lampe"})
            release.set()
            done = await batch
            service.executor.shutdown(wait=True)
        return stopped, late, done

    stopped, late, done = asyncio.run(scenario())
    assert stopped.status_code == 503 and stopped.json()["error"] == "shutting_down", stopped.text
    assert stopped.headers["retry-after"] and stopped.headers["content-type"] == "application/json"
    assert late.status_code == 500 and late.json()["error"] == "internal_error", late.text
    assert done.status_code == 200 and done.json()["predictions"][0]["prdtypecode"] == 10


def test_a_big_batch_lets_single_predictions_through_between_its_parts(rakuten_env):
    """A 256-item batch runs in parts of at most `api_batch_part_chars` characters of text
    (here 256: 64 titles of 4 characters); a single prediction sent while the first part runs
    is answered before the batch's last part starts."""
    from api.engine.service import PredictionService
    from api.metrics import Metrics

    order: list[str] = []
    first_part_running = threading.Event()
    release = threading.Event()

    class Predictor:
        def predict(self, titles, bodies):
            order.append(f"{len(titles)}:{titles[0]}")
            if titles[0] == "b000":
                first_part_running.set()
                release.wait(10)
            return [(10, "x", 1.0, [], None) for _ in titles]

    class Model:
        version = "7"
        predictor = Predictor()

    class Request:
        async def receive(self):
            await asyncio.sleep(3600)  # the client stays

    settings = rakuten_env.model_copy(update={"api_batch_part_chars": 256, "api_batch_wait_ms": 0})
    service = PredictionService(settings, Metrics(), writer=None)
    service.holder.current = Model()

    async def scenario():
        service.start()
        batch = asyncio.ensure_future(service.predict_many(Request(), [(f"b{i:03d}", None) for i in range(256)]))
        await asyncio.to_thread(first_part_running.wait, 10)
        single = asyncio.ensure_future(service.predict_one(("single", None)))
        await asyncio.sleep(0.05)  # lets the single request reach the model thread's queue
        release.set()
        version, preds = await batch
        await single
        await service.stop()
        return version, preds

    version, preds = asyncio.run(scenario())
    assert version == "7" and len(preds) == 256
    assert order[0] == "64:b000" and "1:single" in order
    assert order.index("1:single") < order.index("64:b192")  # not after the whole batch
