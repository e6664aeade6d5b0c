"""Live-quality gauges on the API's /metrics, read from the store's feedback labels: accuracy and
weighted F1 of each model version on the labelled predictions it made, and the open labelling
requests. From the database, so every API replica exports the same values; read at scrape time,
at most once per `ttl_seconds`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)


class QualityCollector:
    def __init__(self, read: Callable[[datetime], tuple[list, list]], *, window_hours: float,
                 min_labels: int, ttl_seconds: float = 15.0):
        self._read = read  # since -> (live qualities, open labelling requests)
        self._window = timedelta(hours=window_hours)
        self._min_labels = min_labels
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._cached: tuple[list, list] = ([], [])
        self._read_at = 0.0
        self._ok = False

    def invalidate(self) -> None:
        """Read again at the next scrape (a label just arrived on this replica)."""
        with self._lock:
            self._read_at = 0.0

    def _latest(self) -> tuple[list, list]:
        with self._lock:
            if time.monotonic() - self._read_at >= self._ttl:
                try:
                    self._cached = self._read(datetime.now(timezone.utc) - self._window)
                    self._ok = True
                except Exception as exc:  # noqa: BLE001 - a scrape must not fail on the database
                    log.warning("live-quality gauges not refreshed: %s", exc)
                self._read_at = time.monotonic()
            return self._cached

    def describe(self):
        return [GaugeMetricFamily(name, "") for name in (
            "rakuten_live_accuracy", "rakuten_live_weighted_f1", "rakuten_live_labels",
            "rakuten_labelling_requests_open", "rakuten_labelling_labels_missing")]

    def collect(self):
        qualities, requests = self._latest()
        accuracy = GaugeMetricFamily("rakuten_live_accuracy", "Accuracy of a model version on the "
                                     "labelled predictions it made in the live-quality window "
                                     "(versions with enough labels only).", labels=["model_version"])
        f1 = GaugeMetricFamily("rakuten_live_weighted_f1", "Weighted F1 of a model version on the "
                               "labelled predictions it made in the live-quality window.",
                               labels=["model_version"])
        labels = GaugeMetricFamily("rakuten_live_labels", "Feedback labels on a model version's "
                                   "predictions in the live-quality window.", labels=["model_version"])
        for q in qualities:
            labels.add_metric([q.model_version], q.labels)
            if q.labels >= self._min_labels:
                accuracy.add_metric([q.model_version], q.accuracy)
                f1.add_metric([q.model_version], q.weighted_f1)
        open_requests = GaugeMetricFamily("rakuten_labelling_requests_open", "Labelling requests "
                                          "opened by drift that still wait for labels.")
        missing = GaugeMetricFamily("rakuten_labelling_labels_missing", "Labels the open labelling "
                                    "requests still wait for.")
        if self._ok:
            open_requests.add_metric([], len(requests))
            missing.add_metric([], sum(max(0, r.labels_needed - r.labels) for r in requests))
        yield from (accuracy, f1, labels, open_requests, missing)
