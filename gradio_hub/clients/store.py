"""The product store (database) as the hub reads it: counts, load batches, classes, sample rows,
the inference log, drift reports and the audit trail of champion moves.

Read-only: rows enter the store through Dagster's `ingest_job` (`clients.dagster`). Failures
become `ServiceUnavailable("Database")` with words a user understands. Product text is returned
as given; the tabs show it as text, never as HTML.
"""

from __future__ import annotations

import json
import threading

import pandas as pd

from gradio_hub.common import ServiceUnavailable, start_hint
from rakuten_assets.core.categories import category_name
from rakuten_assets.core.settings import Settings

_lock = threading.Lock()
_stores: dict[str, object] = {}


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url.split("@")[-1]


def short_category(code: int) -> str:
    return category_name(code).split(" > ")[-1]


# --- the product store -------------------------------------------------------------------------------
class StoreReader:
    """The product store through `rakuten_assets.core.store.ProductStore`, one engine per URL."""

    service = "Database"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.url = settings.db_url

    def product_store(self):
        """The `ProductStore` of this URL, one per process."""
        from rakuten_assets.core.store import ProductStore

        with _lock:
            store = _stores.get(self.url)
            if store is None:
                try:
                    store = ProductStore(self.url)
                except Exception as exc:
                    raise self._down(exc) from exc
                _stores[self.url] = store
            return store

    def _down(self, exc: Exception) -> ServiceUnavailable:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        return ServiceUnavailable(self.service, _safe_url(self.url), reason,
                                  start_hint(self.service, self.settings))

    def _call(self, fn, *args, **kwargs):
        from sqlalchemy.exc import SQLAlchemyError

        store = self.product_store()
        try:
            return fn(store, *args, **kwargs)
        except SQLAlchemyError as exc:
            raise self._down(exc) from exc

    # --- reads ---------------------------------------------------------------------------------------
    def ping(self) -> str:
        def go(store):
            return f"{store.count_products()} products, {store.count_inference_rows()} logged predictions"
        return self._call(go)

    def counts(self) -> dict[str, int]:
        def go(store):
            return {"products": store.count_products(), "batches": store.count_batches(),
                    "predictions": store.count_inference_rows()}
        return self._call(go)

    def batches(self) -> pd.DataFrame:
        frame = self._call(lambda s: s.batches())
        if frame.empty:
            return pd.DataFrame(columns=["batch", "loaded at", "source", "offered", "accepted",
                                         "rejected", "rejection reasons"])

        def reasons(raw: str) -> str:
            try:
                found = json.loads(raw or "{}")
            except ValueError:
                return str(raw)
            return ", ".join(f"{n} {why}" for why, n in sorted(found.items())) or "none"

        return pd.DataFrame({
            "batch": frame["id"].astype(int),
            "loaded at": pd.to_datetime(frame["loaded_at"]).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "source": frame["source"].astype(str),
            "offered": frame["rows_offered"].astype(int),
            "accepted": frame["rows_accepted"].astype(int),
            "rejected": frame["rows_rejected"].astype(int),
            "rejection reasons": frame["rejections_json"].map(reasons),
        })

    def class_distribution(self) -> pd.DataFrame:
        frame = self._call(lambda s: s.class_distribution())
        frame = frame.rename(columns={"rows": "rows"})
        frame["category"] = [f"{c} {short_category(c)}" for c in frame["prdtypecode"]]
        frame["name"] = [category_name(c) for c in frame["prdtypecode"]]
        return frame[["category", "rows", "prdtypecode", "name"]]

    def sample(self, limit: int, offset: int) -> pd.DataFrame:
        frame = self._call(lambda s: s.sample_products(limit=limit, offset=offset))
        frame["category"] = [category_name(c) for c in frame["prdtypecode"]]
        frame["description"] = frame["description"].fillna("")
        return frame[["productid", "designation", "description", "prdtypecode", "category", "batch_id"]]

    def products_page(self, limit: int, offset: int, *, search: str = "",
                      prdtypecode: int | None = None) -> tuple[int, pd.DataFrame]:
        """(rows matching, one page of them): labelled products in productid order whose title or
        description holds `search` (any case; `%` and `_` are plain characters) and whose class is
        `prdtypecode` when given. The title and description are shown as text (`html_to_text`)."""
        from sqlalchemy import func, select

        from gradio_hub.common import html_to_text
        from rakuten_assets.core.store import Label, Product

        def where(stmt):
            term = (search or "").strip().lower()
            if term:
                stmt = stmt.where(func.lower(Product.designation).contains(term, autoescape=True)
                                  | func.lower(func.coalesce(Product.description, "")).contains(
                                      term, autoescape=True))
            if prdtypecode is not None:
                stmt = stmt.where(Label.prdtypecode == int(prdtypecode))
            return stmt

        def go(store):
            joined = select(func.count()).select_from(Product).join(Label, Label.productid == Product.productid)
            rows = select(Product.productid, Product.designation, Product.description, Label.prdtypecode,
                          Product.batch_id).join(Label, Label.productid == Product.productid)
            with store.engine.connect() as conn:
                total = int(conn.execute(where(joined)).scalar() or 0)
                frame = pd.read_sql(where(rows).order_by(Product.productid).limit(limit).offset(offset), conn)
            return total, frame

        total, frame = self._call(go)
        frame["category"] = [category_name(c) for c in frame["prdtypecode"]]
        frame["designation"] = frame["designation"].map(html_to_text)
        frame["description"] = frame["description"].map(html_to_text)
        return total, frame[["productid", "designation", "description", "prdtypecode", "category", "batch_id"]]

    def recent_predictions(self, rows: int = 50) -> pd.DataFrame:
        frame = self._call(lambda s: s.read_inference_log(last_rows=rows))
        columns = ["time", "designation", "description", "predicted", "category", "confidence",
                   "model version", "latency ms"]
        if frame.empty:
            return pd.DataFrame(columns=columns)
        frame = frame.iloc[::-1]  # newest first
        return pd.DataFrame({
            "time": pd.to_datetime(frame["created_at"]).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "designation": frame["designation"].astype(str),
            "description": frame["description"].fillna("").astype(str),
            "predicted": frame["prdtypecode"].astype(int),
            "category": [category_name(c) for c in frame["prdtypecode"]],
            "confidence": frame["confidence"].round(3),
            "model version": frame["model_version"].astype(str),
            "latency ms": frame["latency_ms"].round(2),
        })

    def prediction_logged(self, prediction_id: str) -> bool:
        """Whether the inference log holds this prediction yet (the API writes it in batches)."""
        from sqlalchemy import func, select

        from rakuten_assets.core.store import InferenceLog

        def go(store):
            stmt = select(func.count()).select_from(InferenceLog).where(
                InferenceLog.prediction_id == str(prediction_id))
            with store.engine.connect() as conn:
                return bool(conn.execute(stmt).scalar())
        return self._call(go)

    def drift_records(self, limit: int = 500) -> pd.DataFrame:
        """Rows of the `drift_reports` table, oldest first."""
        return self._call(lambda s: s.drift_history(limit))

    def champion_moves(self, limit: int = 100) -> pd.DataFrame:
        """Every move of the serving alias, newest first (who, when, from, to, why)."""
        return self._call(lambda s: s.champion_moves(self.settings.model_name,
                                                     self.settings.champion_alias, limit))

    # --- ground truth ------------------------------------------------------------------------------
    def review_queue(self, limit: int = 50) -> pd.DataFrame:
        from rakuten_assets.core.feedback import review_queue

        return self._call(lambda s: review_queue(s, limit=limit))

    def labelling_requests(self, limit: int = 20) -> list:
        from rakuten_assets.core.feedback import labelling_requests

        return self._call(lambda s: labelling_requests(s, limit=limit))

    def live_quality(self) -> list:
        from datetime import datetime, timedelta, timezone

        from rakuten_assets.core.feedback import live_quality

        since = datetime.now(timezone.utc) - timedelta(hours=self.settings.live_quality_window_hours)
        return self._call(lambda s: live_quality(s, since=since))

    def export_labels(self) -> pd.DataFrame:
        from rakuten_assets.core.feedback import export_labels

        return self._call(export_labels)

    def count_labels(self) -> int:
        from rakuten_assets.core.feedback import count_labels

        return self._call(count_labels)
