"""The product store as this API process uses it outside the inference-log writer (feedback, the
gauges read at scrape time): one `ProductStore`, opened on first use, so the API starts and
answers /health while the database is still down."""

from __future__ import annotations

import threading

from rakuten_assets.core.store import ProductStore


class LazyStore:
    def __init__(self, url: str):
        self.url = url
        self._store: ProductStore | None = None
        self._lock = threading.Lock()

    def get(self) -> ProductStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = ProductStore(self.url)
        return self._store

    def dispose(self) -> None:
        if self._store is not None:
            self._store.dispose()
