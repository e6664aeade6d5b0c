"""The FastAPI app serving `rakuten_classifier@champion`: routes, errors, lifespan, `serve()`.

Routes: POST /predict, POST /predict/batch, GET /health, /ready, /model, /metrics,
POST /admin/reload. Every error is JSON `{"error": kind, "detail": ...}` and never echoes the
submitted text or a traceback.

Deliberately no `from __future__ import annotations` here: the request models are built per app
(their limits come from the settings), and FastAPI must see them as real annotations.
"""

import asyncio
import hmac
import logging
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.batching import MicroBatcher
from api.inference_log import InferenceLogWriter
from api.drift_gauges import DriftCollector
from api.metrics import Metrics, multiprocess_dir
from api.model_holder import ModelHolder
from api.schemas import (
    BatchPredictResponse, ErrorResponse, HealthResponse, ModelInfoResponse, PredictResponse,
    ReadyResponse, ReloadResponse, build_request_models,
)
from rakuten_assets.settings import Settings, get_settings

log = logging.getLogger("api.server")

JSON = "application/json"
# How long start-up waits for the first model load before accepting traffic anyway (the load
# then finishes in the background and /ready turns 200).
STARTUP_LOAD_TIMEOUT = 120.0


class ModelUnavailable(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ClientGone(Exception):
    """The client disconnected before its prediction ran."""


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than {limit} bytes")


def _json(payload: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON, headers=headers)


def _error(status: int, kind: str, detail: Any, headers: dict | None = None) -> Response:
    return _json({"error": kind, "detail": detail}, status, headers)


_STATUS_KIND = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type",
                422: "validation_error", 503: "model_unavailable"}

_ERROR_DOCS = {
    400: {"model": ErrorResponse, "description": "The body is not UTF-8 / could not be read."},
    413: {"model": ErrorResponse, "description": "The body exceeds the configured size limit."},
    422: {"model": ErrorResponse, "description": "Invalid JSON or invalid fields."},
    503: {"model": ErrorResponse, "description": "No model is loaded yet; `detail` says why."},
}


class HttpMiddleware:
    """Pure ASGI (no per-request task): body size limit, request timing, HTTP metrics."""

    def __init__(self, app, *, metrics: Metrics, max_body: int):
        self.app = app
        self.metrics = metrics
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        scope["rakuten.t0"] = t0
        status = 500
        max_body = self.max_body

        async def send_wrapper(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            length = None
            for key, value in scope["headers"]:
                if key == b"content-length":
                    length = value
                    break
            if length is not None and (not length.isdigit() or int(length) > max_body):
                self.metrics.errors.labels("body_too_large").inc()
                response = _error(413, "body_too_large",
                                  f"request body larger than {max_body} bytes")
                await response(scope, receive, send_wrapper)
                return
            received = 0

            async def receive_wrapper():
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > max_body:
                        raise BodyTooLarge(max_body)
                return message

            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.http_requests.labels(method, path, str(status)).inc()
            self.metrics.http_duration.labels(method, path).observe(time.perf_counter() - t0)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()
    holder = ModelHolder(settings, metrics)

    def store_factory():
        from rakuten_assets.store import ProductStore

        return ProductStore(settings.db_url)

    drift_store = None

    def latest_drift():
        nonlocal drift_store
        drift_store = drift_store or store_factory()
        return drift_store.latest_drift()

    metrics.add_collector(DriftCollector(latest_drift))
    writer = InferenceLogWriter(store_factory, metrics,
                                flush_seconds=settings.inference_log_flush_seconds,
                                buffer_max=settings.inference_log_buffer_max)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
    models = build_request_models(settings.api_max_text_chars, settings.api_max_batch)
    PredictRequest = models.item
    BatchPredictRequest = models.batch

    def run_batch(items: list[tuple[str, str | None]]):
        """In the model thread: one vectorised prediction for many items."""
        model = holder.current
        if model is None:
            raise ModelUnavailable(holder.reason)
        preds = model.predictor.predict([d for d, _ in items], [d for _, d in items])
        return model.version, preds

    def run_micro_batch(items):
        version, preds = run_batch(items)
        return [(version, p) for p in preds]

    batcher = MicroBatcher(run_micro_batch, executor,
                           max_items=settings.api_batch_max_items,
                           wait_s=settings.api_batch_wait_ms / 1000.0,
                           on_batch=metrics.batch_size.labels("single").observe)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        writer.start()
        batcher.start()
        try:
            await asyncio.wait_for(asyncio.to_thread(holder.check, True), STARTUP_LOAD_TIMEOUT)
        except TimeoutError:
            log.warning("the model is still loading after %.0f s; serving /ready=503 until "
                        "it is done", STARTUP_LOAD_TIMEOUT)
        if holder.current is None:
            log.warning("no model loaded at start-up: %s", holder.reason)
        poller = asyncio.create_task(holder.poll_forever(), name="registry-poller")
        try:
            yield
        finally:
            poller.cancel()
            await batcher.stop()
            executor.shutdown(wait=True, cancel_futures=True)
            await asyncio.to_thread(writer.close)
            log.info("inference log closed: %d rows written, %d dropped", writer.written,
                     writer.dropped)

    app = FastAPI(
        title="Rakuten product classifier",
        version="1.0.0",
        summary="Serves the champion model of the MLflow registry.",
        description=("Predicts the product type code of a Rakuten catalogue item from its title "
                     "and description. Errors are JSON `{\"error\": kind, \"detail\": ...}`."),
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry hooks look up the global providers on every request
        # (about a tenth of the event loop's time under load, measured with py-spy); this
        # service exports Prometheus metrics instead.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.holder = holder
    app.state.writer = writer
    app.state.batcher = batcher
    app.add_middleware(HttpMiddleware, metrics=metrics, max_body=settings.api_max_body_bytes)

    # --- errors ---------------------------------------------------------------------------
    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError):
        problems = []
        kind = "validation_error"
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                kind = "invalid_json"
            problems.append({"loc": [str(p) for p in err.get("loc", ())],
                             "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))})
        metrics.errors.labels(kind).inc()
        return _error(422, kind, problems)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException):
        kind = _STATUS_KIND.get(exc.status_code, "http_error")
        detail = exc.detail
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            kind, detail = "invalid_body", "the request body is not valid UTF-8 JSON"
        metrics.errors.labels(kind).inc()
        return _error(exc.status_code, kind, detail, getattr(exc, "headers", None))

    @app.exception_handler(ModelUnavailable)
    async def on_model_unavailable(request: Request, exc: ModelUnavailable):
        metrics.errors.labels("model_unavailable").inc()
        return _error(503, "model_unavailable", f"no model is being served: {exc.reason}",
                      {"Retry-After": "5"})

    @app.exception_handler(ClientGone)
    async def on_client_gone(request: Request, exc: ClientGone):
        return _error(499, "client_closed_request", "the client disconnected")  # never read

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        metrics.errors.labels("internal").inc()
        return _error(500, "internal_error", "unexpected server error; it has been logged")

    # --- prediction -----------------------------------------------------------------------
    def record(t0: float, version: str, inputs, preds) -> tuple[list[dict], float]:
        now = datetime.now(timezone.utc)
        latency = time.perf_counter() - t0
        latency_ms = latency * 1000.0
        out, rows = [], []
        count = metrics.predictions.labels
        observe_len = metrics.text_len.observe
        for (designation, description), (code, category, confidence, top) in zip(inputs, preds):
            pid = uuid.uuid4().hex
            out.append({"prediction_id": pid, "prdtypecode": code, "category": category,
                        "confidence": confidence, "top_k": top, "model_version": version})
            rows.append({"prediction_id": pid, "created_at": now, "designation": designation,
                         "description": description, "prdtypecode": code,
                         "confidence": confidence, "model_version": version,
                         "latency_ms": latency_ms})
            count(str(code)).inc()
            observe_len(len(designation) + (len(description) if description else 0))
        metrics.latency.observe(latency)
        writer.add(rows)
        return out, latency

    async def run_unless_disconnected(request: Request, fn, arg):
        """Queue `fn(arg)` for the model thread, but drop it if the client hangs up before its
        turn: a client that gave up must not leave a backlog of batches for nobody."""
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(executor, fn, arg)
        receive = request.receive  # the body has been read: the next message is a disconnect
        hangup = asyncio.ensure_future(receive())
        try:
            done, _ = await asyncio.wait({work, hangup}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not hangup.done():
                hangup.cancel()
        if work in done:
            return work.result()
        message = hangup.result()
        if message.get("type") != "http.disconnect":
            return await work
        work.cancel()  # removed from the executor's queue if not started yet
        metrics.errors.labels("client_disconnected").inc()
        raise ClientGone()

    @app.post("/predict", response_model=PredictResponse, tags=["prediction"],
              responses=_ERROR_DOCS, summary="Predict the product type code of one item")
    async def predict(item: PredictRequest, request: Request):  # type: ignore[valid-type]
        t0 = request.scope.get("rakuten.t0") or time.perf_counter()
        if holder.current is None:
            raise ModelUnavailable(holder.reason)
        inputs = (item.designation, item.description)
        version, pred = await batcher.submit(inputs)
        out, _ = record(t0, version, (inputs,), (pred,))
        return _json(out[0])

    @app.post("/predict/batch", response_model=BatchPredictResponse, tags=["prediction"],
              responses=_ERROR_DOCS,
              summary=f"Predict up to {settings.api_max_batch} items in one vectorised call")
    async def predict_batch(batch: BatchPredictRequest, request: Request):  # type: ignore[valid-type]
        t0 = request.scope.get("rakuten.t0") or time.perf_counter()
        if holder.current is None:
            raise ModelUnavailable(holder.reason)
        inputs = [(it.designation, it.description) for it in batch.items]
        version, preds = await run_unless_disconnected(request, run_batch, inputs)
        metrics.batch_size.labels("batch").observe(len(inputs))
        out, _ = record(t0, version, inputs, preds)
        return _json({"predictions": out, "model_version": version})

    # --- operations -----------------------------------------------------------------------
    @app.get("/health", response_model=HealthResponse, tags=["operations"],
             summary="The process is alive")
    async def health():
        return _json({"status": "ok"})

    @app.get("/ready", response_model=ReadyResponse, tags=["operations"],
             responses={503: {"model": ReadyResponse, "description": "No model loaded; why."}},
             summary="A model is loaded and predictions can be served")
    async def ready():
        model = holder.current
        if model is None:
            return _json({"status": "not_ready", "model_version": None, "reason": holder.reason},
                         503)
        return _json({"status": "ready", "model_version": model.version, "reason": None})

    @app.get("/model", response_model=ModelInfoResponse, tags=["operations"],
             responses={503: {"model": ErrorResponse, "description": "No model loaded."}},
             summary="The model being served")
    async def model_info():
        model = holder.current
        if model is None:
            raise ModelUnavailable(holder.reason)
        return _json({"name": model.name, "version": model.version, "alias": model.alias,
                      "run_id": model.run_id, "source": model.source, "metrics": model.metrics,
                      "loaded_at": model.loaded_at.isoformat(),
                      "n_classes": len(model.predictor.class_list)})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                              "description": "Prometheus text exposition format."}})
    async def prometheus_metrics():
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    # --- admin ----------------------------------------------------------------------------
    bearer = HTTPBearer(auto_error=False, description="RAKUTEN_ADMIN_TOKEN")

    async def require_admin(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)):
        token = settings.admin_token
        if not token:
            raise StarletteHTTPException(403, "admin endpoints are disabled: no admin token is "
                                         "configured (set RAKUTEN_ADMIN_TOKEN)")
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise StarletteHTTPException(401, "missing bearer token",
                                         headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(credentials.credentials.encode("utf-8", "surrogatepass"),
                                   token.encode("utf-8")):
            raise StarletteHTTPException(403, "invalid admin token")

    admin_errors = {401: {"model": ErrorResponse, "description": "No bearer token."},
                    403: {"model": ErrorResponse,
                          "description": "Wrong token, or admin endpoints disabled."}}

    @app.post("/admin/reload", response_model=ReloadResponse, tags=["admin"],
              responses=admin_errors, dependencies=[Depends(require_admin)],
              summary="Check the registry now and load the champion if it moved")
    async def admin_reload():
        result = await asyncio.to_thread(holder.check, True)
        return _json({"changed": result.changed, "previous_version": result.previous_version,
                      "version": result.version, "error": result.error})

    return app


def _prepare_multiprocess(settings: Settings) -> str:
    """Workers share metrics through files in PROMETHEUS_MULTIPROC_DIR; start it empty."""
    path = multiprocess_dir() or str(settings.home_dir / "prometheus_multiproc")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def serve(host: str | None = None, port: int | None = None, workers: int = 1,
          log_level: str = "info") -> None:
    """Run the API with uvicorn (uvloop + httptools when installed). With workers > 1 each
    worker is a process with its own model copy, registry poller and inference-log writer;
    Prometheus metrics are aggregated over workers through PROMETHEUS_MULTIPROC_DIR."""
    import uvicorn

    settings = get_settings()
    host = host or settings.api_host
    port = port or settings.api_port
    common = dict(host=host, port=port, log_level=log_level, access_log=False,
                  timeout_graceful_shutdown=15, proxy_headers=False, server_header=False)
    if workers > 1:
        _prepare_multiprocess(settings)
        uvicorn.run("api.server:create_app", factory=True, workers=workers, **common)
    else:
        uvicorn.run(create_app(settings), **common)


if __name__ == "__main__":  # pragma: no cover - `python -m api.server [port]`
    import sys

    logging.basicConfig(level=logging.INFO)
    serve(port=int(sys.argv[1]) if len(sys.argv) > 1 else None)
