"""The FastAPI app serving `rakuten_classifier@champion`: `create_app()` wires the serving
engine (`engine/`), the inference log, the metrics, the error handling (`errors.py`) and the
routes (`routes/`); `serve()` runs it with uvicorn.

Routes: POST /predict, POST /predict/batch, POST /feedback, POST /feedback/batch, GET /health,
/ready, /model, /metrics, POST /admin/reload. Every error is JSON `{"error": kind, "detail": ...}`.
"""

import asyncio
import logging
import os
import shutil
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.drift_gauges import DriftCollector
from api.engine.service import PredictionService
from api.errors import HttpMiddleware, install_error_handlers
from api.inference_log import InferenceLogWriter
from api.metrics import Metrics, multiprocess_dir
from api.quality_gauges import QualityCollector
from api import server
from api.routes import admin, feedback, operations, prediction
from api.schemas import build_request_models
from api.stores import LazyStore
from rakuten_assets.core.settings import Settings, get_settings

log = logging.getLogger("api.main")

# How long start-up waits for the first model load before accepting traffic anyway (the load
# then finishes in the background and /ready turns 200).
STARTUP_LOAD_TIMEOUT = 120.0
# ...but only if the registry answers at all within this time.
REGISTRY_ANSWER_TIMEOUT = 3.0


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    server.configure(max_header_bytes=settings.api_max_header_bytes,
                     max_headers=settings.api_max_headers,
                     read_timeout=settings.api_read_timeout_seconds,
                     max_connections=settings.api_max_connections)
    metrics = Metrics()
    stores = LazyStore(settings.db_url)

    def store_factory():
        from rakuten_assets.core.store import ProductStore

        return ProductStore(settings.db_url)

    def live_quality(since):
        from rakuten_assets.core.feedback import (
            REQUEST_OPEN,
            labelling_requests,
            live_quality,
        )

        store = stores.get()
        return live_quality(store, since=since), labelling_requests(store, status=REQUEST_OPEN)

    metrics.add_collector(DriftCollector(lambda: stores.get().latest_drift()))
    quality = QualityCollector(live_quality, window_hours=settings.live_quality_window_hours,
                               min_labels=settings.live_quality_min_labels)
    metrics.add_collector(quality)
    writer = InferenceLogWriter(store_factory, metrics,
                                flush_seconds=settings.inference_log_flush_seconds,
                                buffer_max=settings.inference_log_buffer_max)
    service = PredictionService(settings, metrics, writer)
    holder = service.holder

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        writer.start()
        service.start()
        first_load = asyncio.ensure_future(asyncio.to_thread(holder.check, True))
        answered = await asyncio.to_thread(holder.registry_answered.wait, REGISTRY_ANSWER_TIMEOUT)
        if not answered:
            # A hung MLflow must not keep the port closed (issue 13: /health took 47 s).
            log.warning("the MLflow registry has not answered within %.0f s; serving now, "
                        "/ready=503 until a model is loaded", REGISTRY_ANSWER_TIMEOUT)
        else:
            try:
                await asyncio.wait_for(asyncio.shield(first_load), STARTUP_LOAD_TIMEOUT)
            except TimeoutError:
                log.warning("the model is still loading after %.0f s; serving /ready=503 until "
                            "it is done", STARTUP_LOAD_TIMEOUT)
        if holder.current is None:
            log.warning("no model loaded at start-up: %s", holder.reason)
        poller = asyncio.create_task(holder.poll_forever(), name="registry-poller")
        try:
            yield
        finally:
            # Requests still failing from here on are refused as 503 shutting_down (errors.py).
            app.state.shutting_down = True
            poller.cancel()
            await service.stop()
            await asyncio.to_thread(writer.close)
            stores.dispose()
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
    app.state.service = service
    app.state.writer = writer
    app.state.stores = stores
    app.state.quality = quality
    app.state.shutting_down = False
    app.add_middleware(HttpMiddleware, metrics=metrics, max_body=settings.api_max_body_bytes)
    install_error_handlers(app, metrics)
    models = build_request_models(settings.api_max_text_chars, settings.api_max_batch)
    app.include_router(prediction.build_router(models, settings.api_max_batch))
    app.include_router(operations.router)
    app.include_router(feedback.router)
    app.include_router(admin.router)
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
    # The protocol adds the limits uvicorn lacks (head size and count, read deadline, open
    # connections: api/server.py); it is named by class so worker processes import it too.
    common = dict(host=host, port=port, log_level=log_level, access_log=False,
                  timeout_graceful_shutdown=settings.api_shutdown_grace_seconds,
                  proxy_headers=False, server_header=False,
                  http="api.server:LimitedHttpToolsProtocol",
                  timeout_keep_alive=settings.api_keep_alive_seconds)
    if workers > 1:
        _prepare_multiprocess(settings)
        uvicorn.run("api.main:create_app", factory=True, workers=workers, **common)
    else:
        uvicorn.run(create_app(settings), **common)


if __name__ == "__main__":  # pragma: no cover - `python -m api.main [port]`
    import sys

    logging.basicConfig(level=logging.INFO)
    serve(port=int(sys.argv[1]) if len(sys.argv) > 1 else None)
