"""The MLflow registry and runs as the hub reads them, and the hub's one write to them: moving the
champion alias through `core.promotion.move_champion`, which records the move.

Failures become `ServiceUnavailable("MLflow")` or `ServiceError` with words a user understands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from gradio_hub.clients.store import StoreReader
from gradio_hub.common import ServiceError, ServiceUnavailable, scratch_dir, start_hint
from rakuten_assets.core.settings import Settings


# --- the MLflow registry and runs -----------------------------------------------------------------------
EVALUATION_METRIC = "test_weighted_f1"  # logged by the pipeline's evaluation of every version


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
    """MLflow through `rakuten_assets.core.registry.ModelRegistry`."""

    service = "MLflow"

    def __init__(self, settings: Settings, store: StoreReader):
        self.settings = settings
        self.store = store  # the audit trail of champion moves lives in the product store
        self._registry = None

    @property
    def registry(self):
        if self._registry is None:
            from rakuten_assets.core.registry import ModelRegistry

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
        from rakuten_assets.core.registry import (
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

    def evaluated(self, mv) -> bool:
        """The version's run logged its test evaluation (what promotion decisions rest on)."""
        if not mv.run_id:
            return False
        try:
            return EVALUATION_METRIC in self.registry.run_metrics(mv.run_id)
        except Exception:  # noqa: BLE001 - a deleted run: no evaluation to show
            return False

    def rollback_target(self) -> tuple[str | None, str | None]:
        """(current champion, the champion before the latest recorded move, whoever made it)."""
        from rakuten_assets.core.promotion import rollback_target

        def go():
            return rollback_target(self.registry, self.store.product_store())
        return self._call(go)

    def move_champion(self, version: str, *, kind: str, actor: str, reason: str):
        """Moves the alias and records the move; returns `core.promotion.ChampionMoveResult`."""
        from rakuten_assets.core.promotion import MOVE_BY_PERSON, move_champion

        def go():
            try:
                mv = self.registry.version(version)
            except Exception as exc:
                raise ServiceError(self.service, f"{self.name} has no version {version}") from exc
            if kind == MOVE_BY_PERSON and not self.evaluated(mv):
                # Issue 13: the hub's Promote accepted versions never evaluated.
                raise ServiceError(self.service, f"version {version} of {self.name} has no evaluation "
                                   f"(its run logged no {EVALUATION_METRIC}): only evaluated versions "
                                   "can be promoted")
            return move_champion(self.registry, self.store.product_store(), version, kind=kind,
                                 actor=actor, reason=reason)
        return self._call(go)


def _round(value, digits: int = 4):
    return None if value is None else round(float(value), digits)


