"""POST /feedback and POST /feedback/batch: ground truth for logged predictions, behind
`Authorization: Bearer <RAKUTEN_FEEDBACK_TOKEN>` (refused with 403 while none is configured).

A label is stored before the answer is sent (one database transaction, `core.feedback`), so an
accepted label survives a SIGTERM; when the database is unavailable the label is refused with a
503, never half-kept. The same label twice stores nothing twice; a different label replaces the
earlier one and says so."""

import asyncio
import hmac

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import error_response, json_response
from api.schemas import ErrorResponse
from rakuten_assets.core.categories import CODES, is_known_code
from rakuten_assets.core.feedback import (
    STORED,
    FeedbackItem,
    FeedbackRefused,
    record_feedback,
)

bearer = HTTPBearer(auto_error=False, description="RAKUTEN_FEEDBACK_TOKEN")
MAX_FEEDBACK_BATCH = 1_000


async def require_feedback_token(request: Request,
                                 credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    token = request.app.state.settings.feedback_token
    if not token:
        raise StarletteHTTPException(403, "feedback is disabled: no feedback token is configured "
                                     "(set RAKUTEN_FEEDBACK_TOKEN)")
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise StarletteHTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(credentials.credentials.encode("utf-8", "surrogatepass"), token.encode("utf-8")):
        raise StarletteHTTPException(403, "invalid feedback token")


class FeedbackRequest(BaseModel):
    prediction_id: str = Field(min_length=1, max_length=64, description="`prediction_id` of a "
                               "/predict or /predict/batch answer.")
    prdtypecode: int = Field(description="The true product type code (one of the 27).",
                             json_schema_extra={"enum": list(CODES)})

    @field_validator("prdtypecode")
    @classmethod
    def _known(cls, value: int) -> int:
        if not is_known_code(value):
            raise ValueError(f"unknown prdtypecode {value}: one of {', '.join(map(str, CODES))}")
        return value


class FeedbackBatchRequest(BaseModel):
    items: list[FeedbackRequest] = Field(min_length=1, max_length=MAX_FEEDBACK_BATCH,
                                         description=f"Between 1 and {MAX_FEEDBACK_BATCH} labels; "
                                         "stored all together or not at all.")


class FeedbackResponse(BaseModel):
    prediction_id: str
    prdtypecode: int = Field(description="The label now stored.")
    status: str = Field(description="`stored` (new), `unchanged` (the same label again: nothing "
                        "stored twice) or `replaced` (a different label replaced the earlier one).")
    previous_prdtypecode: int | None = Field(description="The label it replaced, if any.")
    predicted_prdtypecode: int = Field(description="What the model answered.")
    correct: bool = Field(description="Whether the model's answer was the label.")
    model_version: str = Field(description="The model version that answered.")


class FeedbackBatchResponse(BaseModel):
    results: list[FeedbackResponse]
    stored: int
    unchanged: int
    replaced: int


FEEDBACK_ERRORS = {
    401: {"model": ErrorResponse, "description": "No bearer token."},
    403: {"model": ErrorResponse, "description": "Wrong token, or feedback disabled."},
    404: {"model": ErrorResponse, "description": "No logged prediction has this id; `detail` lists them."},
    422: {"model": ErrorResponse, "description": "Unknown code, invalid fields, or a prediction whose "
                                                 "text has no words once cleaned."},
    503: {"model": ErrorResponse, "description": "The store is unavailable: nothing was stored, retry."},
}

router = APIRouter(tags=["feedback"], dependencies=[Depends(require_feedback_token)],
                   responses=FEEDBACK_ERRORS)


async def _record(request: Request, items: list[FeedbackItem]):
    state = request.app.state
    try:
        try:
            return await asyncio.to_thread(record_feedback, state.stores.get(), items, source="api")
        except FeedbackRefused as refused:
            pending = set(refused.problems)
            if refused.kind != "unknown_prediction" or not state.writer.holds(pending):
                raise
            # Labelled before its prediction's log row was written: write it now, then again.
            await asyncio.to_thread(state.writer.wait_written, pending)
            return await asyncio.to_thread(record_feedback, state.stores.get(), items, source="api")
    except FeedbackRefused as refused:
        status, kind = (404, "unknown_prediction") if refused.kind == "unknown_prediction" else (422, refused.kind)
        state.metrics.errors.labels(kind).inc()
        return error_response(status, kind, [{"prediction_id": pid, "problem": why}
                                             for pid, why in refused.problems.items()])
    except SQLAlchemyError:
        state.metrics.errors.labels("feedback_store_unavailable").inc()
        return error_response(503, "feedback_store_unavailable",
                              "the label store is unavailable: nothing was stored; retry later",
                              {"Retry-After": "5"})


def _count(request: Request, results) -> None:
    request.app.state.quality.invalidate()
    counter = request.app.state.metrics.feedback
    for result in results:
        if result.status != "unchanged":
            counter.labels(result.model_version, "true" if result.correct else "false").inc()


@router.post("/feedback", response_model=FeedbackResponse, status_code=201,
             summary="The true code of one logged prediction",
             responses={200: {"model": FeedbackResponse, "description": "Unchanged or replaced."}})
async def feedback(item: FeedbackRequest, request: Request):
    results = await _record(request, [FeedbackItem(item.prediction_id, item.prdtypecode)])
    if not isinstance(results, list):
        return results  # an error response
    _count(request, results)
    (result,) = results
    return json_response({k: v for k, v in result.as_dict().items() if k != "productid"},
                         201 if result.status == STORED else 200)


@router.post("/feedback/batch", response_model=FeedbackBatchResponse,
             summary=f"The true codes of up to {MAX_FEEDBACK_BATCH} logged predictions, all or none")
async def feedback_batch(batch: FeedbackBatchRequest, request: Request):
    results = await _record(request, [FeedbackItem(i.prediction_id, i.prdtypecode) for i in batch.items])
    if not isinstance(results, list):
        return results
    _count(request, results)
    body = [{k: v for k, v in r.as_dict().items() if k != "productid"} for r in results]
    statuses = [r.status for r in results]
    return json_response({"results": body, "stored": statuses.count("stored"),
                          "unchanged": statuses.count("unchanged"), "replaced": statuses.count("replaced")})
