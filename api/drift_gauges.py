"""Drift gauges on the API's /metrics, read from the latest row of the `drift_reports` table.

The drift report runs in Dagster, possibly on another host; the table is what every API replica
can see, so each exports the same values and Prometheus/Grafana can alert on them. Read at
scrape time, at most once per `ttl_seconds`, so a scrape never waits on the database twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)


class DriftCollector:
    def __init__(self, latest_drift: Callable[[], dict | None], ttl_seconds: float = 15.0):
        self._latest_drift = latest_drift
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._cached: dict | None = None
        self._read_at = 0.0

    def _latest(self) -> dict | None:
        with self._lock:
            if time.monotonic() - self._read_at >= self._ttl:
                try:
                    self._cached = self._latest_drift()
                except Exception as exc:  # noqa: BLE001 - a metrics scrape must not fail on the database
                    log.warning("drift gauges not refreshed: %s", exc)
                self._read_at = time.monotonic()
            return self._cached

    def describe(self):
        # Names only: lets registration check for clashes without touching the database.
        return [GaugeMetricFamily("rakuten_drift_share", ""), GaugeMetricFamily("rakuten_drift_detected", ""),
                GaugeMetricFamily("rakuten_drift_report_timestamp_seconds", "")]

    def collect(self):
        latest = self._latest()
        share = GaugeMetricFamily("rakuten_drift_share", "Drifted share of the signals in the latest "
                                  "drift report (0..1).")
        detected = GaugeMetricFamily("rakuten_drift_detected", "1 when the latest drift report says drift.")
        stamp = GaugeMetricFamily("rakuten_drift_report_timestamp_seconds", "Unix time of the latest "
                                  "drift report.")
        if latest is not None:
            share.add_metric([], float(latest["drifted_share"]))
            detected.add_metric([], 1.0 if latest["drift_detected"] else 0.0)
            stamp.add_metric([], latest["created_at"].timestamp())
        yield from (share, detected, stamp)
