"""Prometheus metrics of the serving API.

The names are the ones dashboards already query; do not rename them. Each app gets its own
`CollectorRegistry` (tests build many apps in one process). With several uvicorn workers,
`PROMETHEUS_MULTIPROC_DIR` must be set before the workers start: values then go to files in
that folder and `/metrics` aggregates every worker's files.
"""

from __future__ import annotations

import os

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0)
TEXT_LEN_BUCKETS = (0, 10, 25, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000)
SERVING_PATHS = ("fast", "partial", "sklearn")
SHARE_BUCKETS = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def observe_many(histogram: Histogram, amounts) -> None:
    """`histogram.observe(a)` for every `a` of `amounts`, with one increment per bucket hit
    instead of a lock, a bucket search and a sum update per amount: a 256-item batch observes
    512 amounts, 2% of the API's time under load (issue 14). It reads prometheus_client's
    Histogram internals (`_upper_bounds`, `_buckets`, `_sum`; version pinned in uv.lock);
    tests/api/test_units.py checks the exposition equals per-amount `observe`."""
    if len(amounts) < 16:  # numpy's per-call costs exceed a few observe() calls (a single request)
        for amount in amounts:
            histogram.observe(amount)
        return
    values = np.asarray(amounts, dtype=np.float64)
    # observe() counts an amount in the first bucket whose upper bound is >= it
    where = np.searchsorted(np.asarray(histogram._upper_bounds), values, side="left")
    for bucket, count in zip(*np.unique(where, return_counts=True)):
        histogram._buckets[int(bucket)].inc(int(count))
    histogram._sum.inc(float(values.sum()))


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        multi = multiprocess_dir() is not None
        self.multiprocess = multi
        self.predictions = Counter("rakuten_predictions", "Predictions served, by predicted code.",
                                   ["prdtypecode"], registry=r)
        self.latency = Histogram("rakuten_prediction_latency_seconds",
                                 "Time from request arrival to prediction, per request.",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.text_len = Histogram("rakuten_text_len_chars",
                                  "Characters of designation + description per predicted item.",
                                  buckets=TEXT_LEN_BUCKETS, registry=r)
        self.known_words = Histogram("rakuten_known_word_share", "Share of an item's words the "
                                     "served model's vocabulary knows (low: text of a kind it never "
                                     "saw).", buckets=SHARE_BUCKETS, registry=r)
        self.feedback = Counter("rakuten_feedback", "Feedback labels accepted, by the model version "
                                "that made the prediction and whether it was right.",
                                ["model_version", "correct"], registry=r)
        self.model_version = Gauge("rakuten_model_version", "Registry version being served "
                                   "(0: none).", registry=r, multiprocess_mode="livemax")
        self.model_load_ts = Gauge("rakuten_model_load_timestamp", "Unix time the served model "
                                   "was loaded.", registry=r, multiprocess_mode="livemax")
        self.model_info = Gauge("rakuten_model_info", "1 for the model being served.",
                                ["name", "version", "alias"], registry=r,
                                multiprocess_mode="livemax")
        self.serving_path = Gauge("rakuten_model_serving_path", "1 for the path the served model "
                                  "predicts on: fast (every step optimised), partial, or sklearn "
                                  "(the plain pipeline).", ["path"], registry=r,
                                  multiprocess_mode="livemax")
        self.test_accuracy = Gauge("rakuten_model_test_accuracy", "Accuracy of the served model "
                                   "on its own test split (what live accuracy is held against).",
                                   ["model_version"], registry=r, multiprocess_mode="livemax")
        self.errors = Counter("rakuten_api_errors", "Requests answered with an error, by kind.",
                              ["error_type"], registry=r)
        self.model_load_failures = Counter("rakuten_model_load_failures",
                                           "Registry checks or model loads that failed.",
                                           ["stage"], registry=r)
        self.log_buffer = Gauge("rakuten_inference_log_buffer_rows", "Inference-log rows waiting "
                                "to be written.", registry=r, multiprocess_mode="livesum")
        self.log_dropped = Counter("rakuten_inference_log_dropped_rows", "Inference-log rows "
                                   "dropped (buffer full, or rejected by the database).",
                                   ["reason"], registry=r)
        self.log_written = Counter("rakuten_inference_log_written_rows", "Inference-log rows "
                                   "written to the database.", registry=r)
        self.http_requests = Counter("rakuten_http_requests", "HTTP requests by route and status.",
                                     ["method", "route", "status"], registry=r)
        self.http_duration = Histogram("rakuten_http_request_duration_seconds",
                                       "HTTP request duration by route.", ["method", "route"],
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("rakuten_predict_batch_size", "Rows per model call "
                                    "(micro-batches of single requests and /predict/batch).",
                                    ["path"], buckets=BATCH_BUCKETS, registry=r)
        self._info_labels: tuple[str, str, str] | None = None
        self._extra_collectors: list = []
        self.model_version.set(0)

    def add_collector(self, collector) -> None:
        """A collector computed at scrape time (not per process), e.g. the drift gauges."""
        self.registry.register(collector)
        self._extra_collectors.append(collector)

    def set_model(self, name: str, version: str, alias: str, loaded_at: float,
                  serving_path: str, test_accuracy: float | None = None) -> None:
        for path in SERVING_PATHS:
            self.serving_path.labels(path).set(1 if path == serving_path else 0)
        if self._info_labels is not None and self._info_labels[1] != version:
            if self.multiprocess:
                self.test_accuracy.labels(self._info_labels[1]).set(0)
            else:
                try:
                    self.test_accuracy.remove(self._info_labels[1])
                except KeyError:
                    pass
        if test_accuracy is not None:
            self.test_accuracy.labels(version).set(test_accuracy)
        try:
            self.model_version.set(float(version))
        except ValueError:
            self.model_version.set(0)
        self.model_load_ts.set(loaded_at)
        if self._info_labels is not None:
            if self.multiprocess:
                self.model_info.labels(*self._info_labels).set(0)
            else:
                self.model_info.remove(*self._info_labels)
        self._info_labels = (name, version, alias)
        self.model_info.labels(name, version, alias).set(1)

    def render(self) -> tuple[bytes, str]:
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            for collector in self._extra_collectors:
                registry.register(collector)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
