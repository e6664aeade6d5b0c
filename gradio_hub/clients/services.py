"""Small clients of the optional HTTP services around the system: Prometheus, Grafana and the
MLflow UI (the Docker engine's is clients/docker.py). Each call has a timeout and fails with
`ServiceUnavailable` saying how to start the service; none of them is needed for the hub to work.
"""

from __future__ import annotations

import httpx

from gradio_hub.common import (
    ServiceError,
    ServiceUnavailable,
    grafana_url,
    mlflow_ui_url,
    prometheus_url,
    reason_of,
    start_hint,
)
from rakuten_assets.core.settings import Settings


class _HttpService:
    service = "service"

    def __init__(self, settings: Settings, base_url: str | None, *, timeout: float | None = None):
        self.settings = settings
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout or settings.hub_timeout_seconds
        self.hint = start_hint(self.service, settings)

    @property
    def configured(self) -> bool:
        return self.base_url is not None

    def _get(self, path: str, **params) -> httpx.Response:
        if not self.base_url:
            raise ServiceUnavailable(self.service, None, "not configured", self.hint)
        try:
            with httpx.Client(timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 2.0))) as client:
                response = client.get(self.base_url + path, params=params or None)
        except httpx.TransportError as exc:
            raise ServiceUnavailable(self.service, self.base_url, reason_of(exc), self.hint) from exc
        if response.status_code >= 400:
            raise ServiceError(self.service, f"{path} answered HTTP {response.status_code}",
                               response.status_code)
        return response


class PrometheusClient(_HttpService):
    service = "Prometheus"

    def __init__(self, settings: Settings, **kw):
        super().__init__(settings, prometheus_url(settings), **kw)

    def health(self) -> str:
        return self._get("/-/healthy").text.strip() or "healthy"

    def alerts(self) -> list[dict]:
        """Active alerts: name, state (pending/firing), summary."""
        body = self._get("/api/v1/alerts").json()
        out = []
        for alert in (body.get("data") or {}).get("alerts") or []:
            labels, notes = alert.get("labels") or {}, alert.get("annotations") or {}
            out.append({"alert": labels.get("alertname", "?"), "state": alert.get("state", "?"),
                        "severity": labels.get("severity", ""),
                        "summary": notes.get("summary") or notes.get("description") or "",
                        "since": alert.get("activeAt", "")})
        return out

    def query(self, promql: str) -> list[dict]:
        body = self._get("/api/v1/query", query=promql).json()
        if body.get("status") != "success":
            raise ServiceError(self.service, body.get("error", "query failed"))
        return (body.get("data") or {}).get("result") or []


class GrafanaClient(_HttpService):
    service = "Grafana"

    def __init__(self, settings: Settings, **kw):
        super().__init__(settings, grafana_url(settings), **kw)

    def health(self) -> str:
        body = self._get("/api/health").json()
        return f"database {body.get('database', '?')}, version {body.get('version', '?')}"

    def dashboards(self) -> list[tuple[str, str]]:
        """(title, absolute URL) of every dashboard; empty when Grafana wants a login to list them."""
        try:
            found = self._get("/api/search", type="dash-db").json()
        except ServiceError:
            return []
        return [(d.get("title", "dashboard"), self.base_url + d["url"]) for d in found if d.get("url")]


class MlflowUiClient(_HttpService):
    service = "MLflow UI"

    def __init__(self, settings: Settings, **kw):
        super().__init__(settings, mlflow_ui_url(settings), **kw)

    def health(self) -> str:
        return self._get("/health").text.strip() or "OK"

    def model_url(self, name: str, version: str | None = None) -> str | None:
        if not self.base_url:
            return None
        return f"{self.base_url}/#/models/{name}" + (f"/versions/{version}" if version else "")
