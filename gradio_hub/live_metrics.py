"""Request rate and latency read from the API's Prometheus `/metrics`, without needing Prometheus.

One snapshot gives totals since the API started (predictions, mean and quantile latency from the
histogram buckets); two snapshots give rates and the latency of the requests in between. The
hub keeps the last samples in memory, shared by every session and taken at most every few
seconds however many people look.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

LATENCY = "rakuten_prediction_latency_seconds"
PREDICTIONS = "rakuten_predictions_total"
ERRORS = "rakuten_api_errors_total"
MODEL_VERSION = "rakuten_model_version"
LOG_BUFFER = "rakuten_inference_log_buffer_rows"
LOG_DROPPED = "rakuten_inference_log_dropped_rows_total"


@dataclass
class Snapshot:
    at: float
    requests: float = 0.0                 # latency observations = prediction requests
    latency_sum: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)   # le -> cumulative count
    predictions: float = 0.0              # items predicted
    by_code: dict[str, float] = field(default_factory=dict)
    errors: dict[str, float] = field(default_factory=dict)
    model_version: float | None = None
    log_buffer: float | None = None
    log_dropped: float = 0.0

    @property
    def mean_latency_ms(self) -> float | None:
        return 1000 * self.latency_sum / self.requests if self.requests else None

    def quantile_ms(self, q: float) -> float | None:
        value = histogram_quantile(q, self.buckets)
        return None if value is None else 1000 * value


def parse(text: str, at: float | None = None) -> Snapshot:
    snap = Snapshot(at=time.time() if at is None else at)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == f"{LATENCY}_bucket":
                le = float("inf") if s.labels.get("le") in ("+Inf", "inf") else float(s.labels["le"])
                snap.buckets[le] = snap.buckets.get(le, 0.0) + s.value
            elif s.name == f"{LATENCY}_count":
                snap.requests += s.value
            elif s.name == f"{LATENCY}_sum":
                snap.latency_sum += s.value
            elif s.name == PREDICTIONS:
                code = s.labels.get("prdtypecode", "?")
                snap.by_code[code] = snap.by_code.get(code, 0.0) + s.value
                snap.predictions += s.value
            elif s.name == ERRORS:
                kind = s.labels.get("error_type", "?")
                snap.errors[kind] = snap.errors.get(kind, 0.0) + s.value
            elif s.name == MODEL_VERSION:
                snap.model_version = s.value
            elif s.name == LOG_BUFFER:
                snap.log_buffer = s.value
            elif s.name == LOG_DROPPED:
                snap.log_dropped += s.value
    return snap


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus's histogram_quantile on cumulative bucket counts (linear inside a bucket)."""
    if not buckets:
        return None
    ordered = sorted(buckets.items())
    total = ordered[-1][1]
    if total <= 0:
        return None
    rank = q * total
    previous_le, previous_count = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if math.isinf(le):
                return previous_le  # above the highest finite bucket: its bound is all we know
            if count == previous_count:
                return le
            return previous_le + (le - previous_le) * (rank - previous_count) / (count - previous_count)
        previous_le, previous_count = le, count
    return previous_le


def delta(new: Snapshot, old: Snapshot) -> dict | None:
    """Rates and latency between two snapshots; None across an API restart (counters reset)."""
    dt = new.at - old.at
    if dt <= 0 or new.requests < old.requests:
        return None
    requests = new.requests - old.requests
    buckets = {le: new.buckets.get(le, 0.0) - old.buckets.get(le, 0.0) for le in new.buckets}
    p50 = histogram_quantile(0.5, buckets) if requests else None
    p95 = histogram_quantile(0.95, buckets) if requests else None
    return {"requests/s": requests / dt,
            "predictions/s": max(0.0, new.predictions - old.predictions) / dt,
            "errors/s": max(0.0, sum(new.errors.values()) - sum(old.errors.values())) / dt,
            "p50 ms": None if p50 is None else 1000 * p50,
            "p95 ms": None if p95 is None else 1000 * p95}


class MetricsHistory:
    """Samples of one API's /metrics, shared by every hub session."""

    def __init__(self, min_interval: float = 2.0, keep: int = 720):
        self.min_interval = min_interval
        self.samples: deque[Snapshot] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def sample(self, fetch) -> Snapshot:
        """The latest snapshot; `fetch()` (the /metrics text) is called only when the last sample
        is older than `min_interval` seconds."""
        with self._lock:
            if self.samples and time.time() - self.samples[-1].at < self.min_interval:
                return self.samples[-1]
        snap = parse(fetch())
        with self._lock:
            if self.samples and snap.requests < self.samples[-1].requests:
                self.samples.clear()  # the API restarted: its counters began again
            self.samples.append(snap)
        return snap

    def series(self) -> pd.DataFrame:
        """Long format for a line chart: time (epoch seconds), metric, value."""
        with self._lock:
            samples = list(self.samples)
        rows = []
        for old, new in itertools.pairwise(samples):
            d = delta(new, old)
            if d is None:
                continue
            when = new.at  # the real time (epoch seconds): a chart spaces samples as they came
            rows.append({"time": when, "metric": "requests/s", "value": round(d["requests/s"], 3)})
            for key in ("p50 ms", "p95 ms"):
                if d[key] is not None:
                    rows.append({"time": when, "metric": key, "value": round(d[key], 2)})
        return pd.DataFrame({"time": pd.Series([r["time"] for r in rows], dtype=float),
                             "metric": pd.Series([r["metric"] for r in rows], dtype=str),
                             "value": pd.Series([r["value"] for r in rows], dtype=float)})


_histories: dict[str, MetricsHistory] = {}
_histories_lock = threading.Lock()


def history_for(api_base_url: str) -> MetricsHistory:
    with _histories_lock:
        return _histories.setdefault(api_base_url, MetricsHistory())
