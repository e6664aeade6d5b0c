"""Every error the API answers, as JSON `{"error": kind, "detail": ...}`: the exceptions routes
raise, the handlers that turn them (and FastAPI's own) into responses, and the ASGI middleware
that enforces the body-size limit and times every request. An error never echoes the submitted
text or a traceback."""

import asyncio
import logging
import time
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.metrics import Metrics
from api.schemas import ErrorResponse

log = logging.getLogger("api.errors")

JSON = "application/json"


class ModelUnavailable(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ClientGone(Exception):
    """The client disconnected before its prediction ran."""


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than {limit} bytes")


def json_response(payload: Any, status: int = 200, headers: dict | None = None) -> Response:
    # orjson: the response models are documentation; encoding through them costs more than
    # the prediction of a small batch.
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON, headers=headers)


def error_response(status: int, kind: str, detail: Any, headers: dict | None = None) -> Response:
    return json_response({"error": kind, "detail": detail}, status, headers)


def shutting_down_response() -> Response:
    return error_response(503, "shutting_down", "the API is shutting down; retry (another "
                          "instance, or this one once restarted)", {"Retry-After": "5",
                                                                     "Connection": "close"})


STATUS_KIND = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type",
               422: "validation_error", 503: "model_unavailable"}

ERROR_DOCS = {
    400: {"model": ErrorResponse, "description": "The body is not UTF-8 / could not be read."},
    413: {"model": ErrorResponse, "description": "The body exceeds the configured size limit."},
    422: {"model": ErrorResponse, "description": "Invalid JSON or invalid fields."},
    503: {"model": ErrorResponse, "description": "No model is loaded yet; `detail` says why."},
}


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
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
        return error_response(422, kind, problems)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException):
        kind = STATUS_KIND.get(exc.status_code, "http_error")
        detail = exc.detail
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            kind, detail = "invalid_body", "the request body is not valid UTF-8 JSON"
        metrics.errors.labels(kind).inc()
        return error_response(exc.status_code, kind, detail, getattr(exc, "headers", None))

    @app.exception_handler(ModelUnavailable)
    async def on_model_unavailable(request: Request, exc: ModelUnavailable):
        metrics.errors.labels("model_unavailable").inc()
        return error_response(503, "model_unavailable", f"no model is being served: {exc.reason}",
                              {"Retry-After": "5"})

    @app.exception_handler(ClientGone)
    async def on_client_gone(request: Request, exc: ClientGone):
        return error_response(499, "client_closed_request", "the client disconnected")  # never read

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception):
        if getattr(request.app.state, "shutting_down", False):
            # The model thread and the micro-batcher stop under in-flight requests at SIGTERM.
            metrics.errors.labels("shutting_down").inc()
            return shutting_down_response()
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        metrics.errors.labels("internal").inc()
        return error_response(500, "internal_error", "unexpected server error; it has been logged")


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
        started = False
        max_body = self.max_body

        async def send_wrapper(message):
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
            await send(message)

        try:
            length = None
            for key, value in scope["headers"]:
                if key == b"content-length":
                    length = value
                    break
            if length is not None and (not length.isdigit() or int(length) > max_body):
                self.metrics.errors.labels("body_too_large").inc()
                response = error_response(413, "body_too_large",
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

            try:
                await self.app(scope, receive_wrapper, send_wrapper)
            except asyncio.CancelledError:
                # uvicorn cancels requests still running when the graceful shutdown time is
                # over; without this they got its plain-text 500. The request is answered (503
                # in the API's format) and the cancellation ends here, in the request's task.
                if started:
                    raise
                self.metrics.errors.labels("shutting_down").inc()
                await shutting_down_response()(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.http_requests.labels(method, path, str(status)).inc()
            self.metrics.http_duration.labels(method, path).observe(time.perf_counter() - t0)
