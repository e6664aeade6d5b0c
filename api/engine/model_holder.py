"""Which model is served, and swapping it when the champion alias moves.

`ModelHolder.current` is one immutable `LoadedModel`; a swap is a single reference assignment,
so a request (or a micro-batch) that took the old model finishes with it and the next one gets
the new one: nobody fails and nobody waits. A new version is downloaded, loaded, optimised and
checked entirely in a background thread before it is swapped in; if any of that fails, the old
version keeps serving and the failure is reported (`/admin/reload`, logs, metrics).

If MLflow is unreachable (at start-up or later), the holder keeps what it has (possibly nothing:
`/ready` then says why) and the poller tries again, more often while nothing is loaded.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from api.engine.canary import BUILT_IN_ROWS, CanaryResult, canary_rows, run_canary
from api.engine.predictor import Predictor
from api.metrics import Metrics
from rakuten_assets.core.redact import public_text
from rakuten_assets.core.settings import Settings

log = logging.getLogger("api.engine.model_holder")

# The MLflow client retries a refused connection 7 times with exponential backoff (minutes)
# by default; a service must answer "MLflow is down" quickly and try again later instead.
# A hung MLflow (accepting, never answering) held /admin/reload for 40 s with a 20 s timeout and
# one retry (issue 13): each call now gives up after 10 s and is not retried; the poller tries
# again on its next round anyway.
_MLFLOW_ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
# A version that failed to load is tried again on a poll only after this long (at once on
# /admin/reload).
RETRY_FAILED_VERSION_SECONDS = 60.0
# While nothing is loaded, look again at least this often.
NOT_READY_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    alias: str
    run_id: str | None
    source: str
    metrics: dict[str, float]
    loaded_at: datetime
    predictor: Predictor = field(repr=False)


@dataclass(frozen=True)
class CheckResult:
    changed: bool
    previous_version: str | None
    version: str | None
    error: str | None = None


class ModelHolder:
    def __init__(self, settings: Settings, metrics: Metrics, *, registry=None):
        for key, value in _MLFLOW_ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)
        self.settings = settings
        self.metrics = metrics
        self._registry = registry
        self.current: LoadedModel | None = None
        self.reason: str = "starting: the champion model has not been loaded yet"
        self.last_error: str | None = None
        self._failed: dict[str, float] = {}
        self._lock = threading.Lock()
        # Set once the registry has answered (or failed) on a check: start-up waits for the first
        # model only when MLflow answers at all, so /health never waits on a hung MLflow.
        self.registry_answered = threading.Event()
        # The last version the canary refused, and why (shown on /model).
        self.last_refusal: dict | None = None

    # --- registry -------------------------------------------------------------------------
    def registry(self):
        if self._registry is None:
            from rakuten_assets.core.registry import ModelRegistry

            self._registry = ModelRegistry(self.settings)
        return self._registry

    @property
    def ready(self) -> bool:
        return self.current is not None

    def check(self, force: bool = False) -> CheckResult:
        """Ask the registry which version is champion and load it if it is not the one served.
        Thread-safe; a poll that finds another check running returns at once."""
        if not self._lock.acquire(blocking=force):
            cur = self.current
            v = cur.version if cur else None
            return CheckResult(False, v, v, "another registry check is in progress")
        try:
            return self._check(force)
        finally:
            self._lock.release()

    def _check(self, force: bool) -> CheckResult:
        cur = self.current
        previous = cur.version if cur else None
        name, alias = self.settings.model_name, self.settings.champion_alias
        try:
            registry = self.registry()
            mv = registry.champion()
        except Exception as exc:
            self.registry_answered.set()
            log.warning("MLflow registry unreachable at %s: %s", self.settings.tracking_uri, exc)
            return self._failure("registry", f"MLflow registry unreachable: {_short(exc)}", previous)
        self.registry_answered.set()
        if mv is None:
            error = f"no version of model '{name}' has the alias '{alias}'"
            return self._failure("no_champion", error, previous, count=False)
        version = str(mv.version)
        if cur is not None and cur.version == version:
            self.last_error = None
            return CheckResult(False, previous, previous)
        failed_at = self._failed.get(version)
        if (failed_at is not None and not force
                and time.monotonic() - failed_at < RETRY_FAILED_VERSION_SECONDS):
            return CheckResult(False, previous, previous, self.last_error)
        if cur is None:
            self.reason = f"loading version {version} of '{name}'"
        try:
            loaded = self._load(registry, mv)
        except Exception as exc:
            self._failed[version] = time.monotonic()
            error = f"version {version} of '{name}' failed to load: {_short(exc)}"
            log.exception("model load failed")
            return self._failure("load", error, previous)
        canary = self._canary(loaded)
        if not canary.passed:
            self._failed[version] = time.monotonic()
            self.last_refusal = {"version": version, "reason": canary.refusal,
                                 "at": datetime.now(UTC).isoformat(),
                                 "canary_rows": canary.rows, "canary_accuracy": canary.accuracy}
            error = f"version {version} of '{name}' refused by the canary: {canary.refusal}"
            log.error("%s; %s", error, f"still serving version {previous}" if previous else
                      "nothing is served")
            return self._failure("canary", error, previous)
        self._failed.pop(version, None)
        # The model's objects live as long as it serves: keep them out of the cyclic GC's
        # full collections, which otherwise walk them all and stall requests (p99).
        gc.freeze()
        self.current = loaded  # the swap: one reference assignment
        self.last_error = None
        self.reason = ""
        path = loaded.predictor.path
        self.metrics.set_model(name, version, alias, loaded.loaded_at.timestamp(), path,
                               test_accuracy=loaded.metrics.get("test_accuracy"))
        log.info("serving %s version %s (was %s) on the %s path", name, version, previous, path)
        if path != "fast":
            log.warning("version %s is served without the fast path for: %s", version,
                        "; ".join(loaded.predictor.fallbacks))
        return CheckResult(True, previous, version)

    def _canary(self, loaded: LoadedModel) -> CanaryResult:
        """The canary of api/engine/canary.py on the store's labelled rows and the predictor's
        built-in sample rows; a canary that cannot run at all lets the version through (logged)."""
        try:
            titles, bodies, labels = canary_rows(self.settings.db_url)
            return run_canary(loaded.predictor, loaded.metrics.get("test_accuracy"), titles, bodies,
                              labels, extra_rows=BUILT_IN_ROWS)
        except Exception:
            log.exception("the canary of version %s could not run", loaded.version)
            return CanaryResult(0, 0, 0, None, None)

    def _failure(self, stage: str, error: str, previous: str | None, *,
                 count: bool = True) -> CheckResult:
        if count:
            self.metrics.model_load_failures.labels(stage).inc()
        self.last_error = error
        if self.current is None:
            self.reason = error
        else:
            log.warning("%s; still serving version %s", error, self.current.version)
        return CheckResult(False, previous, previous, error)

    def _load(self, registry, mv) -> LoadedModel:
        import mlflow.sklearn

        uri = registry.model_uri(mv.version)
        pipeline = mlflow.sklearn.load_model(uri)
        predictor = Predictor(pipeline)  # optimises and checks on sample rows (warm-up too)
        try:
            metrics = registry.run_metrics(mv.run_id)
        except Exception as exc:
            log.warning("could not read the training metrics of run %s: %s", mv.run_id, exc)
            metrics = {}
        return LoadedModel(name=self.settings.model_name, version=str(mv.version),
                           alias=self.settings.champion_alias, run_id=mv.run_id, source=uri,
                           metrics={k: float(v) for k, v in metrics.items()},
                           loaded_at=datetime.now(UTC), predictor=predictor)

    # --- polling --------------------------------------------------------------------------
    async def poll_forever(self) -> None:
        while True:
            interval = self.settings.api_poll_seconds
            if self.current is None:
                interval = min(interval, NOT_READY_POLL_SECONDS)
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.check)
            except Exception:
                log.exception("registry poll failed")


def _short(exc: BaseException) -> str:
    text = public_text(f"{type(exc).__name__}: {exc}")
    return text if len(text) <= 300 else text[:297] + "..."
