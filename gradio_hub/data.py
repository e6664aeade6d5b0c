"""What the hub reads and changes directly: the product store (database), the MLflow registry and
runs, and the drift reports on disk.

Failures become `ServiceUnavailable("Database" / "MLflow")` or `ServiceError` with words a user
understands. Product text is returned as given; the tabs show it as text, never as HTML.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from gradio_hub.common import ServiceError, ServiceUnavailable, scratch_dir, start_hint
from rakuten_assets.categories import category_name
from rakuten_assets.settings import Settings

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
    """The product store through `rakuten_assets.store.ProductStore`, one engine per URL."""

    service = "Database"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.url = settings.db_url

    def _store(self):
        from rakuten_assets.store import ProductStore

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

        store = self._store()
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

    def drift_records(self, limit: int = 500) -> pd.DataFrame:
        """Rows of the `drift_reports` table, oldest first (empty when the store predates it)."""
        def go(store):
            if not hasattr(store, "drift_history"):
                return pd.DataFrame()
            return store.drift_history(limit)
        return self._call(go)

    # --- changes ---------------------------------------------------------------------------------------
    def ingest_next(self) -> str:
        from rakuten_assets.sources import (
            SourceError,
            ingest_next,
            source_from_settings,
        )

        def go(store):
            try:
                result = ingest_next(store, source_from_settings(self.settings), self.settings)
            except SourceError as exc:
                raise ServiceError("Ingestion", str(exc)) from None
            if result is None:
                return "The source is exhausted: every batch is already in the store."
            return f"Ingested {result.summary()}. The store now holds {store.count_products()} products."
        return self._call(go)

    def ingest_files(self, x_path: str, y_path: str | None) -> str:
        from rakuten_assets.sources import SourceError, ingest_files

        def go(store):
            try:
                result = ingest_files(store, Path(x_path), Path(y_path) if y_path else None)
            except SourceError as exc:
                raise ServiceError("Ingestion", str(exc)) from None
            return f"Ingested {result.summary()}. The store now holds {store.count_products()} products."
        return self._call(go)


# --- the MLflow registry and runs -----------------------------------------------------------------------
@dataclass
class ChampionInfo:
    name: str
    alias: str
    version: str
    run_id: str | None
    created: str
    metrics: dict[str, float]
    tags: dict[str, str]


def _when(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class RegistryReader:
    """MLflow through `rakuten_assets.registry.ModelRegistry`."""

    service = "MLflow"

    def __init__(self, settings: Settings):
        self.settings = settings
        self._registry = None

    @property
    def registry(self):
        if self._registry is None:
            from rakuten_assets.registry import ModelRegistry

            try:
                self._registry = ModelRegistry(self.settings)
            except Exception as exc:
                raise self._down(exc) from exc
        return self._registry

    def _down(self, exc: Exception) -> ServiceUnavailable:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return ServiceUnavailable(self.service, self.settings.tracking_uri, reason,
                                  start_hint(self.service, self.settings))

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ServiceError, ServiceUnavailable):
            raise
        except Exception as exc:
            raise self._down(exc) from exc

    @property
    def name(self) -> str:
        return self.settings.model_name

    @property
    def alias(self) -> str:
        return self.settings.champion_alias

    def ping(self) -> str:
        def go():
            versions = self.registry.versions()
            champion = self.registry.champion()
            where = f"champion v{champion.version}" if champion else "no champion yet"
            return f"{len(versions)} registered versions of {self.name}, {where}"
        return self._call(go)

    def champion(self) -> ChampionInfo | None:
        def go():
            found = self.registry.champion()
            if found is None:
                return None
            metrics = self.registry.run_metrics(found.run_id) if found.run_id else {}
            return ChampionInfo(self.name, self.alias, str(found.version), found.run_id,
                                _when(found.creation_timestamp), metrics, dict(found.tags or {}))
        return self._call(go)

    def versions(self) -> pd.DataFrame:
        from rakuten_assets.registry import (
            DATASET_VERSION_TAG,
            PROMOTION_REASON_TAG,
            PROMOTION_TAG,
        )

        def go():
            rows = []
            aliases: dict[str, list[str]] = {}
            try:
                for alias, version in (self.registry.client.get_registered_model(self.name).aliases or {}).items():
                    aliases.setdefault(str(version), []).append(alias)
            except Exception:  # noqa: BLE001 - no registered model yet
                aliases = {}
            for v in self.registry.versions():
                metrics = {}
                if v.run_id:
                    try:
                        metrics = self.registry.run_metrics(v.run_id)
                    except Exception:  # noqa: BLE001 - a deleted run leaves the version listed
                        metrics = {}
                tags = dict(v.tags or {})
                rows.append({
                    "version": int(v.version),
                    "aliases": ", ".join(sorted(set(aliases.get(str(v.version), [])
                                                    + list(getattr(v, "aliases", []) or [])))),
                    "created": _when(v.creation_timestamp),
                    "weighted F1": _round(metrics.get("test_weighted_f1")),
                    "macro F1": _round(metrics.get("test_macro_f1")),
                    "decision": tags.get(PROMOTION_TAG, ""),
                    "reason": tags.get(PROMOTION_REASON_TAG, ""),
                    "dataset": tags.get(DATASET_VERSION_TAG, ""),
                    "run id": (v.run_id or "")[:12],
                })
            return pd.DataFrame(rows, columns=["version", "aliases", "created", "weighted F1",
                                               "macro F1", "decision", "reason", "dataset", "run id"])
        return self._call(go)

    def runs(self, limit: int = 50) -> pd.DataFrame:
        from mlflow.entities import ViewType

        columns = ["started", "run name", "status", "weighted F1", "macro F1", "accuracy",
                   "champion F1 (same test)", "promoted", "train rows", "dataset", "run id"]

        def go():
            client = self.registry.client
            experiment = client.get_experiment_by_name(self.settings.experiment_name)
            if experiment is None:
                return pd.DataFrame(columns=columns)
            runs = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ACTIVE_ONLY,
                                      max_results=limit, order_by=["attributes.start_time DESC"])
            rows = []
            for run in runs:
                m, p, t = run.data.metrics, run.data.params, run.data.tags
                promoted = m.get("promoted")
                rows.append({
                    "started": _when(run.info.start_time),
                    "run name": run.info.run_name or "",
                    "status": run.info.status,
                    "weighted F1": _round(m.get("test_weighted_f1")),
                    "macro F1": _round(m.get("test_macro_f1")),
                    "accuracy": _round(m.get("test_accuracy")),
                    "champion F1 (same test)": _round(m.get("champion_weighted_f1_same_test")),
                    "promoted": "" if promoted is None else ("yes" if promoted else "no"),
                    "train rows": p.get("train_rows", ""),
                    "dataset": t.get("dataset_version", p.get("dataset_version", "")),
                    "run id": run.info.run_id[:12],
                })
            return pd.DataFrame(rows, columns=columns)
        return self._call(go)

    def confusion_matrix(self, version: str) -> str | None:
        """Local path of `evaluation/confusion_matrix_v<N>.png` of the version's run, or None when
        that run logged none (a model registered outside the pipeline)."""
        def go():
            mv = self.registry.version(version)
            if not mv.run_id:
                return None
            client = self.registry.client
            names = [a.path for a in client.list_artifacts(mv.run_id, "evaluation")]
            wanted = f"evaluation/confusion_matrix_v{version}.png"
            if wanted not in names:
                pngs = [n for n in names if n.endswith(".png") and "confusion" in n]
                if not pngs:
                    return None
                wanted = pngs[0]
            target = scratch_dir() / f"cm-{mv.run_id}"
            cached = target / wanted
            if cached.is_file():
                return str(cached)
            target.mkdir(exist_ok=True)
            return client.download_artifacts(mv.run_id, wanted, str(target))
        return self._call(go)

    def rollback_target(self) -> tuple[str | None, str | None]:
        """(current champion, version to roll back to): the newest version older than the champion
        that was promoted once; failing that, the newest older version."""
        from rakuten_assets.registry import PROMOTION_TAG

        def go():
            current = self.registry.champion()
            if current is None:
                return None, None
            older = [v for v in self.registry.versions() if int(v.version) < int(current.version)]
            promoted = [v for v in older if (v.tags or {}).get(PROMOTION_TAG) == "promoted"]
            pick = (promoted or older or [None])[0]
            return str(current.version), (str(pick.version) if pick else None)
        return self._call(go)

    def set_champion(self, version: str, *, reason: str) -> str | None:
        """Moves the alias; returns the previous champion version."""
        def go():
            try:
                self.registry.version(version)
            except Exception as exc:
                raise ServiceError(self.service, f"{self.name} has no version {version}") from exc
            before = self.registry.champion()
            self.registry.set_champion(version, reason=reason)
            return str(before.version) if before else None
        return self._call(go)


def _round(value, digits: int = 4):
    return None if value is None else round(float(value), digits)


# --- drift reports ----------------------------------------------------------------------------------------
HISTORY_COLUMNS = ["time", "drifted share", "drift", "status", "rows compared", "report"]


def drift_reports(settings: Settings, store: StoreReader | None = None) -> dict[str, Path]:
    """Drift report HTML files by name, newest first: the ones the `drift_reports` table points
    to, and any `drift*.html` under RAKUTEN_HOME/reports. Only these can be shown: a name coming
    back from the browser is looked up here, never used as a path."""
    found: list[Path] = []
    if store is not None:
        try:
            for raw in store.drift_records()["html_path"].dropna():
                path = Path(str(raw))
                if path.suffix == ".html" and path.is_file():
                    found.append(path)
        except Exception:  # noqa: BLE001 - the files alone still work
            pass
    folder = settings.reports_dir
    if folder.is_dir():
        found.extend(folder.glob("**/drift*.html"))
    unique = {p.resolve(): p for p in found}
    ordered = sorted(unique.values(), key=lambda p: p.stat().st_mtime, reverse=True)
    return {p.name: p for p in ordered}


def _history_from_files(settings: Settings) -> pd.DataFrame:
    rows = []
    folder = settings.reports_dir
    for path in sorted(folder.glob("**/drift*.json")) if folder.is_dir() else []:
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        share = payload.get("drifted_share", payload.get("drift_share"))
        if share is None:
            continue
        rows.append({"time": payload.get("created_at") or pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC"),
                     "drifted share": float(share),
                     "drift": "detected" if payload.get("drift_detected") else "not detected",
                     "status": str(payload.get("status", "")),
                     "rows compared": payload.get("rows_current"), "report": path.stem})
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def drift_history(settings: Settings, store: StoreReader | None = None) -> pd.DataFrame:
    """Drift share over time: the `drift_reports` table (what the API exports too) when it has
    rows, else the JSON summaries written beside the HTML reports."""
    frame = pd.DataFrame(columns=HISTORY_COLUMNS)
    if store is not None:
        try:
            records = store.drift_records()
        except Exception:  # noqa: BLE001
            records = pd.DataFrame()
        if not records.empty:
            frame = pd.DataFrame({
                "time": records["created_at"], "drifted share": records["drifted_share"].astype(float),
                "drift": ["detected" if d else "not detected" for d in records["drift_detected"]],
                "status": records["status"].astype(str), "rows compared": records["rows_current"],
                "report": [Path(str(p)).stem if p else "" for p in records["html_path"]]})
    if frame.empty:
        frame = _history_from_files(settings)
    if frame.empty:
        return frame
    times = pd.to_datetime(frame["time"], utc=True, errors="coerce")
    frame = frame.assign(time=times.dt.tz_convert("UTC").dt.tz_localize(None)).dropna(subset=["time"])
    return frame.sort_values("time").reset_index(drop=True)
