"""Dynamic micro-batching of single predictions.

A one-row model call costs nearly as much fixed overhead (pandas, sklearn validation, the
pipeline's steps) as a 32-row call. Concurrent `/predict` requests therefore queue here; one
collector task takes whatever is waiting (up to `max_items`), gives stragglers up to `wait_s`
to join when the batch is small, and runs a single vectorised prediction in the model thread.
Results go back to each request's future. While the model thread works, new requests pile up
and form the next batch, so the batch size follows the load by itself.

One model thread (a single-thread executor shared with `/predict/batch`) means model calls
never compete with each other for the GIL; the event loop keeps parsing and answering HTTP
meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

log = logging.getLogger("api.engine.batching")


class MicroBatcher:
    def __init__(self, run_batch: Callable[[list[Any]], list[Any]], executor: Executor, *,
                 max_items: int = 64, wait_s: float = 0.001, on_batch: Callable[[int], None]
                 | None = None):
        self._run_batch = run_batch
        self._executor = executor
        self.max_items = max_items
        self.wait_s = wait_s
        self._on_batch = on_batch
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._wake: asyncio.Event | None = None
        self._full: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._collect(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(RuntimeError("the service is shutting down"))
        self._pending.clear()

    async def submit(self, item: Any) -> Any:
        if self._task is None or self._task.done():
            raise RuntimeError("the micro-batcher is not running")
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        n = len(self._pending)
        if n == 1:
            self._wake.set()
        if n >= self.max_items:
            self._full.set()
        return await fut

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            if len(self._pending) < self.max_items and self.wait_s > 0:
                self._full.clear()
                try:
                    async with asyncio.timeout(self.wait_s):
                        await self._full.wait()
                except TimeoutError:
                    pass
            batch = self._pending[:self.max_items]
            del self._pending[:self.max_items]
            if not batch:
                continue
            items = [item for item, _ in batch]
            try:
                results = await loop.run_in_executor(self._executor, self._run_batch, items)
            except asyncio.CancelledError:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(RuntimeError("the service is shutting down"))
                raise
            except Exception as exc:
                log.exception("micro-batch of %d failed", len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            if self._on_batch is not None:
                self._on_batch(len(batch))
            for (_, fut), result in zip(batch, results):
                if not fut.done():  # the client may have gone away
                    fut.set_result(result)
