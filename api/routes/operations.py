"""GET /health, /ready, /model, /metrics: what load balancers, Prometheus and people look at."""

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.engine.service import PredictionService
from api.errors import ModelUnavailable, json_response
from api.schemas import ErrorResponse, HealthResponse, ModelInfoResponse, ReadyResponse

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthResponse, summary="The process is alive")
async def health():
    return json_response({"status": "ok"})


@router.get("/ready", response_model=ReadyResponse,
            responses={503: {"model": ReadyResponse, "description": "No model loaded; why."}},
            summary="A model is loaded and predictions can be served")
async def ready(request: Request):
    holder = request.app.state.service.holder
    model = holder.current
    if model is None:
        return json_response({"status": "not_ready", "model_version": None, "reason": holder.reason}, 503)
    return json_response({"status": "ready", "model_version": model.version, "reason": None})


@router.get("/model", response_model=ModelInfoResponse,
            responses={503: {"model": ErrorResponse, "description": "No model loaded."}},
            summary="The model being served, and the serving path it runs on")
async def model_info(request: Request):
    service: PredictionService = request.app.state.service
    model = service.holder.current
    if model is None:
        raise ModelUnavailable(service.holder.reason)
    refusal = service.holder.last_refusal
    return json_response({"name": model.name, "version": model.version, "alias": model.alias,
                          "run_id": model.run_id, "source": model.source, "metrics": model.metrics,
                          "loaded_at": model.loaded_at.isoformat(),
                          "n_classes": len(model.predictor.class_list),
                          "serving_path": model.predictor.describe(),
                          # The last version the canary kept out, and why (issue 13).
                          "canary_refusal": refusal})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format."}})
async def prometheus_metrics(request: Request):
    # Off the event loop: the live-quality and drift gauges read the database at scrape time, and
    # a database that does not answer must not hold up the predictions sharing this loop.
    body, content_type = await run_in_threadpool(request.app.state.metrics.render)
    return Response(body, media_type=content_type)
