"""POST /predict and POST /predict/batch. The request models carry this deployment's limits
(longest text, largest batch), so the router is built per app."""

import time

from fastapi import APIRouter, Request

from api.engine.service import PredictionService
from api.errors import ERROR_DOCS, json_response
from api.schemas import BatchPredictResponse, PredictResponse, RequestModels


def build_router(models: RequestModels, max_batch: int) -> APIRouter:
    router = APIRouter(tags=["prediction"])
    PredictRequest = models.item
    BatchPredictRequest = models.batch

    @router.post("/predict", response_model=PredictResponse, responses=ERROR_DOCS,
                 summary="Predict the product type code of one item")
    async def predict(item: PredictRequest, request: Request):  # type: ignore[valid-type]
        t0 = request.scope.get("rakuten.t0") or time.perf_counter()
        service: PredictionService = request.app.state.service
        inputs = (item.designation, item.description)
        version, pred = await service.predict_one(inputs)
        return json_response(service.record(t0, version, (inputs,), (pred,))[0])

    @router.post("/predict/batch", response_model=BatchPredictResponse, responses=ERROR_DOCS,
                 summary=f"Predict up to {max_batch} items in one vectorised call")
    async def predict_batch(batch: BatchPredictRequest, request: Request):  # type: ignore[valid-type]
        t0 = request.scope.get("rakuten.t0") or time.perf_counter()
        service: PredictionService = request.app.state.service
        inputs = [(it.designation, it.description) for it in batch.items]
        version, preds = await service.predict_many(request, inputs)
        return json_response({"predictions": service.record(t0, version, inputs, preds),
                              "model_version": version})

    return router
