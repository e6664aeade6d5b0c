"""Client of the prediction API (package `api`): predictions, health, model and metrics.

Every call has a timeout; a connection failure becomes `ServiceUnavailable` with how to start
the API, an error answer becomes `ServiceError` with the API's own explanation. Predictions are
not retried (each one is logged by the API); only reads of `/metrics` are.
"""

from __future__ import annotations

from typing import Any

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

from gradio_hub.common import (
    ServiceError,
    ServiceUnavailable,
    api_url,
    reason_of,
    start_hint,
)
from rakuten_assets.core.settings import Settings

SERVICE = "API"


def _detail(response: httpx.Response) -> str:
    """The API's errors are `{"error": kind, "detail": ...}`; say them as a sentence."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, list):  # field problems
        parts = []
        for problem in detail:
            if isinstance(problem, dict):
                loc = ".".join(str(p) for p in problem.get("loc", []) if p not in ("body",))
                parts.append(f"{loc}: {problem.get('msg', '')}".strip(": "))
            else:
                parts.append(str(problem))
        detail = "; ".join(parts)
    return str(detail or f"HTTP {response.status_code}")


class ApiClient:
    def __init__(self, settings: Settings, *, base_url: str | None = None, timeout: float | None = None):
        self.settings = settings
        self.base_url = (base_url or api_url(settings)).rstrip("/")
        self.timeout = timeout or settings.hub_timeout_seconds
        self.hint = start_hint(SERVICE, settings)

    def _request(self, method: str, path: str, *, timeout: float | None = None, **kwargs) -> httpx.Response:
        url = self.base_url + path
        t = timeout or self.timeout
        try:
            with httpx.Client(timeout=httpx.Timeout(t, connect=min(t, 3.0))) as client:
                return client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnavailable(SERVICE, self.base_url, reason_of(exc), self.hint) from exc

    def _json(self, method: str, path: str, **kwargs) -> Any:
        response = self._request(method, path, **kwargs)
        if response.status_code >= 400:
            error = ServiceError(SERVICE, _detail(response), response.status_code)
            try:
                error.detail = response.json().get("detail")  # the API's structured detail
            except (ValueError, AttributeError):
                error.detail = None
            raise error
        return response.json()

    # --- operations ------------------------------------------------------------------------------
    def health(self) -> dict:
        return self._json("GET", "/health")

    def ready(self) -> tuple[bool, dict]:
        """(ready?, body): 503 is an answer here, not an error."""
        response = self._request("GET", "/ready")
        try:
            body = response.json()
        except ValueError:
            body = {}
        return response.status_code == 200, body

    def model(self) -> dict:
        return self._json("GET", "/model")

    @retry(retry=retry_if_exception_type(ServiceUnavailable), stop=stop_after_attempt(2),
           wait=wait_fixed(0.2), reraise=True)
    def metrics_text(self) -> str:
        response = self._request("GET", "/metrics")
        if response.status_code >= 400:
            raise ServiceError(SERVICE, _detail(response), response.status_code)
        return response.text

    def reload(self) -> dict:
        """POST /admin/reload, when an admin token is configured."""
        token = self.settings.admin_token
        if not token:
            raise ServiceError(SERVICE, "no RAKUTEN_ADMIN_TOKEN configured: the API picks up the "
                               "new champion at its next registry poll instead")
        return self._json("POST", "/admin/reload", headers={"Authorization": f"Bearer {token}"},
                          timeout=max(self.timeout, 60.0))

    # --- predictions ------------------------------------------------------------------------------
    def predict(self, designation: str, description: str | None) -> dict:
        return self._json("POST", "/predict", json={"designation": designation,
                                                    "description": description or None})

    def predict_batch(self, items: list[dict]) -> dict:
        return self._json("POST", "/predict/batch", json={"items": items},
                          timeout=max(self.timeout, 30.0))

    # --- feedback (ground truth) ------------------------------------------------------------------
    def _feedback_headers(self) -> dict:
        token = self.settings.feedback_token
        if not token:
            raise ServiceError(SERVICE, "no RAKUTEN_FEEDBACK_TOKEN configured: labels are saved "
                               "through the API's /feedback, which needs it (set it for the API and "
                               "the hub)")
        return {"Authorization": f"Bearer {token}"}

    def feedback(self, prediction_id: str, prdtypecode: int) -> dict:
        """One label; the API's answer (status stored / unchanged / replaced)."""
        return self._json("POST", "/feedback", json={"prediction_id": prediction_id,
                                                     "prdtypecode": int(prdtypecode)},
                          headers=self._feedback_headers())

    def feedback_batch(self, items: list[dict]) -> dict:
        return self._json("POST", "/feedback/batch", json={"items": items},
                          headers=self._feedback_headers(), timeout=max(self.timeout, 60.0))

    @property
    def docs_url(self) -> str:
        return self.base_url + "/docs"
