"""The serving engine as the routes see it: the model being served (`ModelHolder`), the one model
thread, micro-batching of single predictions, and what every answered prediction leaves behind
(an inference-log row, Prometheus counters).

One model thread (a single-thread executor shared by micro-batches and `/predict/batch`) means
model calls never compete with each other for the GIL; the event loop keeps parsing and
answering HTTP meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import numpy as np
from starlette.requests import Request

from api.engine.batching import MicroBatcher
from api.engine.model_holder import ModelHolder
from api.errors import ClientGone, ModelUnavailable
from api.inference_log import InferenceLogWriter
from api.metrics import Metrics, observe_many
from rakuten_assets.core.settings import Settings

Item = tuple[str, "str | None"]


class PredictionService:
    def __init__(self, settings: Settings, metrics: Metrics, writer: InferenceLogWriter):
        self.settings = settings
        self.metrics = metrics
        self.writer = writer
        self.holder = ModelHolder(settings, metrics)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.batcher = MicroBatcher(self._run_micro_batch, self.executor,
                                    max_items=settings.api_batch_max_items,
                                    wait_s=settings.api_batch_wait_ms / 1000.0,
                                    on_batch=metrics.batch_size.labels("single").observe)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()
        self.executor.shutdown(wait=True, cancel_futures=True)

    def require_model(self):
        model = self.holder.current
        if model is None:
            raise ModelUnavailable(self.holder.reason)
        return model

    # --- in the model thread ----------------------------------------------------------------
    def run_batch(self, items: list[Item], model=None):
        """One vectorised prediction for many items (with `model`, or the one served now)."""
        model = model or self.require_model()
        preds = model.predictor.predict([d for d, _ in items], [d for _, d in items])
        return model.version, preds

    def _run_micro_batch(self, items: list[Item]):
        version, preds = self.run_batch(items)
        return [(version, p) for p in preds]

    # --- on the event loop ------------------------------------------------------------------
    async def predict_one(self, item: Item):
        self.require_model()
        return await self.batcher.submit(item)

    async def predict_many(self, request: Request, items: list[Item]):
        """The batch in parts of at most `api_batch_part_chars` characters of text, each its
        own turn of the model thread: single predictions queued meanwhile run between two
        parts instead of waiting for the whole batch (issue 13: one 256-item batch held the
        thread for seconds). Bounded by text, not items, because a part's cost is its text's:
        a typical batch of 256 products (~130,000 characters) is one turn (~20 ms), where
        parts of 64 items cost a third more CPU in per-call overheads (issue 14), and a batch
        of 256 texts at the length limit still runs in ~20 parts. All parts use the model
        taken at the start, so the answer has one model version."""
        model = self.require_model()
        preds: list = []
        for start, stop in text_parts(items, self.settings.api_batch_part_chars):
            _, part = await self._predict_part(request, items[start:stop], model)
            preds.extend(part)
        self.metrics.batch_size.labels("batch").observe(len(items))
        return model.version, preds

    async def _predict_part(self, request: Request, items: list[Item], model):
        """Queue a part for the model thread, but drop it if the client hangs up before its
        turn: a client that gave up must not leave a backlog of batches for nobody."""
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self.executor, self.run_batch, items, model)
        hangup = asyncio.ensure_future(request.receive())  # body read: next is a disconnect
        try:
            done, _ = await asyncio.wait({work, hangup}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not hangup.done():
                hangup.cancel()
        if work in done:
            return work.result()
        message = hangup.result()
        if message.get("type") != "http.disconnect":
            return await work
        work.cancel()  # removed from the executor's queue if not started yet
        self.metrics.errors.labels("client_disconnected").inc()
        raise ClientGone()

    def record(self, t0: float, version: str, inputs, preds) -> list[dict]:
        """The answers, with an id each; their inference-log rows and metrics."""
        now = datetime.now(timezone.utc)
        latency = time.perf_counter() - t0
        latency_ms = latency * 1000.0
        out, rows, lengths, shares = [], [], [], []
        for pid, (designation, description), (code, category, confidence, top, known) in zip(
                prediction_ids(len(preds)), inputs, preds):
            out.append({"prediction_id": pid, "prdtypecode": code, "category": category,
                        "confidence": confidence, "top_k": top, "model_version": version,
                        "known_word_share": known})
            rows.append({"prediction_id": pid, "created_at": now, "designation": designation,
                         "description": description, "prdtypecode": code,
                         "confidence": confidence, "model_version": version,
                         "latency_ms": latency_ms, "known_word_share": known})
            lengths.append(len(designation) + (len(description) if description else 0))
            if known is not None:
                shares.append(known)
        observe_many(self.metrics.text_len, lengths)
        observe_many(self.metrics.known_words, shares)
        count = self.metrics.predictions.labels
        for code, n in Counter(p[0] for p in preds).items():
            count(str(code)).inc(n)
        self.metrics.latency.observe(latency)
        self.writer.add(rows)
        return out


def text_parts(items: list[Item], max_chars: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive parts of `items`, each holding at most `max_chars`
    characters of text, or one item when that item alone holds more."""
    parts, start, size = [], 0, 0
    for i, (designation, description) in enumerate(items):
        chars = len(designation) + (len(description) if description else 0)
        if i > start and size + chars > max_chars:
            parts.append((start, i))
            start, size = i, 0
        size += chars
    if items:
        parts.append((start, len(items)))
    return parts


def prediction_ids(n: int) -> list[str]:
    """n version-7 UUIDs (RFC 9562) as 32 hex digits: a 48-bit millisecond timestamp, then 74
    random bits, from one read of the system's random source.

    Time-ordered ids land at the right edge of the inference log's primary-key index instead
    of at random places in it: with random (version-4) ids, SQLite spent 8.1 ms of CPU per
    256 logged rows once the log held 100k rows, 3.7 ms with these (issue 14; the gap grows
    with the log). One `uuid4()` per row was also 6% of a 256-item batch's CPU."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, :6] = np.frombuffer(time.time_ns().__floordiv__(1_000_000).to_bytes(6, "big"), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x70  # version 7
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 9562 variant
    digits = raw.tobytes().hex()
    return [digits[i:i + 32] for i in range(0, 32 * n, 32)]
