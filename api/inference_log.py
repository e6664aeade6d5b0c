"""The inference-log writer: every prediction goes to the `inference_log` table, off the
request path, in batches.

Requests only append to an in-memory buffer (O(1), under a lock). A background thread writes
what is buffered every `flush_seconds` (or sooner when a lot is waiting), retrying with backoff
when the database is unavailable; rows are put back and kept while it stays down, up to
`buffer_max` rows, past which new rows are dropped and counted
(`rakuten_inference_log_dropped_rows_total{reason="buffer_full"}`). `close()` (called from the
app's lifespan, so on SIGTERM too) writes everything left before the process exits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from api.metrics import Metrics

log = logging.getLogger("api.inference_log")

WRITE_CHUNK = 2_000


def _transient(exc: BaseException) -> bool:
    """Worth retrying: the database is down, locked or busy; not: it rejected the rows."""
    if isinstance(exc, IntegrityError):
        return False
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or type(exc).__name__ in (
            "OperationalError", "InterfaceError", "InternalError")
    return isinstance(exc, (SQLAlchemyError, OSError, ConnectionError))


class InferenceLogWriter:
    def __init__(self, store_factory: Callable[[], object], metrics: Metrics, *,
                 flush_seconds: float = 0.5, buffer_max: int = 100_000,
                 retry_attempts: int = 3, retry_max_wait: float = 2.0):
        self._store_factory = store_factory
        self._store = None
        self.metrics = metrics
        self.flush_seconds = flush_seconds
        self.buffer_max = buffer_max
        self.retry_attempts = retry_attempts
        self.retry_max_wait = retry_max_wait
        self._buffer: deque[dict] = deque()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._taken: list[dict] = []  # the chunk a flush is writing
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0
        self.last_error: str | None = None
        self._sanitize_nul = False

    # --- request side -------------------------------------------------------------------------
    def add(self, rows: Iterable[dict]) -> None:
        rows = list(rows)
        with self._lock:
            room = self.buffer_max - len(self._buffer)
            if room < len(rows):
                lost = len(rows) - max(room, 0)
                rows = rows[:max(room, 0)]
                self.dropped += lost
                self.metrics.log_dropped.labels("buffer_full").inc(lost)
            self._buffer.extend(rows)
            size = len(self._buffer)
        self.metrics.log_buffer.set(size)
        if size >= WRITE_CHUNK:
            self._wake.set()

    def pending(self) -> int:
        """Rows not yet written: buffered, plus the chunk a flush holds while it retries (it is
        taken out of the buffer for the attempt and given back if the database is down)."""
        with self._lock:
            return len(self._buffer) + self._in_flight

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="inference-log-writer",
                                            daemon=True)
            self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread and write what is left, retrying until `timeout`."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        deadline = time.monotonic() + timeout
        while self._buffer and time.monotonic() < deadline:
            if not self._flush_once():
                time.sleep(0.2)
        if self._buffer:
            with self._lock:
                lost = len(self._buffer)
                self._buffer.clear()
            self.dropped += lost
            self.metrics.log_dropped.labels("shutdown_timeout").inc(lost)
            log.error("inference log: %d rows could not be written before shutdown (%s)", lost,
                      self.last_error)
        self.metrics.log_buffer.set(0)
        if self._store is not None:
            try:
                self._store.dispose()
            except Exception:
                pass

    # --- writer thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._stopping.is_set():
                break
            while self._buffer and not self._stopping.is_set():
                if not self._flush_once():
                    break  # database unavailable: rows are back in the buffer, wait a period

    def holds(self, prediction_ids: set[str]) -> bool:
        """Whether any of these predictions is not written yet (buffered or being written)."""
        with self._lock:
            return any(row["prediction_id"] in prediction_ids
                       for row in (*self._buffer, *self._taken))

    def wait_written(self, prediction_ids: set[str], timeout: float = 5.0) -> bool:
        """Ask for a flush now and wait until these predictions are written (a label can arrive
        before its prediction's row does); False if they still are not after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.holds(prediction_ids):
            if time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(0.02)
        return True

    def _take(self) -> list[dict]:
        with self._lock:
            n = min(WRITE_CHUNK, len(self._buffer))
            self._in_flight = n
            self._taken = [self._buffer.popleft() for _ in range(n)]
            return self._taken

    def _give_back(self, rows: list[dict]) -> None:
        with self._lock:
            self._buffer.extendleft(reversed(rows))
            self._in_flight = 0
            self._taken = []

    def _get_store(self):
        if self._store is None:
            self._store = self._store_factory()
            self._sanitize_nul = getattr(self._store, "url", "").startswith("postgresql")
        return self._store

    def _prepare(self, rows: list[dict]) -> list[dict]:
        if not self._sanitize_nul:
            return rows
        # PostgreSQL text cannot hold NUL characters; everything else is stored as given.
        out = []
        for row in rows:
            d, desc = row["designation"], row["description"]
            if "\x00" in d or (desc and "\x00" in desc):
                row = dict(row, designation=d.replace("\x00", "\ufffd"),
                           description=desc.replace("\x00", "\ufffd") if desc else desc)
            out.append(row)
        return out

    def _write(self, rows: list[dict]) -> None:
        for attempt in Retrying(stop=stop_after_attempt(self.retry_attempts),
                                wait=wait_exponential(multiplier=0.1, max=self.retry_max_wait),
                                retry=retry_if_exception(_transient), reraise=True):
            with attempt:
                self._get_store().append_inference_rows(self._prepare(rows))

    def _flush_once(self) -> bool:
        """Write one chunk; False when the database is unavailable (rows kept)."""
        rows = self._take()
        if not rows:
            return True
        try:
            self._write(rows)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"[:500]
            if _transient(exc):
                log.warning("inference log: database unavailable, %d rows kept: %s", len(rows),
                            self.last_error)
                self._give_back(rows)
                self.metrics.log_buffer.set(len(self._buffer))
                return False
            self._write_one_by_one(rows)
        else:
            self.written += len(rows)
            self.metrics.log_written.inc(len(rows))
        with self._lock:
            self._in_flight = 0
            self._taken = []
        self.metrics.log_buffer.set(len(self._buffer))
        return True

    def _write_one_by_one(self, rows: list[dict]) -> None:
        """The database rejected a chunk (a bad row): keep every row it accepts."""
        for row in rows:
            try:
                self._get_store().append_inference_rows(self._prepare([row]))
            except Exception as exc:
                self.dropped += 1
                self.metrics.log_dropped.labels("rejected").inc()
                log.error("inference log: row %s rejected: %s", row.get("prediction_id"), exc)
            else:
                self.written += 1
                self.metrics.log_written.inc()
