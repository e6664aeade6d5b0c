"""The MLflow model registry as the rest of the system sees it: where the tracking store is,
which version is champion, and the promotion rule.

Plain MLflow, no Dagster: the API and the hub use this module too. Inside Dagster runs, MLflow
runs are opened through `rakuten_assets.tracking` (dagster-mlflow); both point MLflow at the
same place with `configure_mlflow`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException, RestException

from rakuten_assets.settings import Settings

PROMOTION_TAG = "promotion_decision"
PROMOTION_REASON_TAG = "promotion_reason"
DATASET_VERSION_TAG = "dataset_version"


def is_local_store(uri: str) -> bool:
    return urlparse(uri).scheme in ("sqlite", "file", "")


def configure_mlflow(settings: Settings) -> str:
    """Point this process's MLflow at the configured store; returns the tracking URI."""
    uri = settings.tracking_uri
    if is_local_store(uri):
        settings.ensure_dirs()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def ensure_experiment(settings: Settings, name: str | None = None) -> str:
    """Create the experiment once; with a local store, artifacts go to RAKUTEN_HOME/mlartifacts
    rather than to an `mlruns` folder in whatever directory the process started in."""
    configure_mlflow(settings)
    name = name or settings.experiment_name
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (settings.artifact_root / name).as_uri() if is_local_store(settings.tracking_uri) else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:
        # Another process created it between our look-up and our create.
        return client.get_experiment_by_name(name).experiment_id


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    challenger_f1: float
    champion_f1: float | None
    margin: float

    def as_tags(self) -> dict[str, str]:
        return {PROMOTION_TAG: "promoted" if self.promote else "rejected",
                PROMOTION_REASON_TAG: self.reason}


def decide_promotion(challenger_f1: float, champion_f1: float | None, margin: float,
                     *, passed_quality_gate: bool = True, f1_floor: float | None = None,
                     champion_unscored: str | None = None) -> PromotionDecision:
    """The written rule: promote when there is no champion, or when the challenger beats the
    champion's weighted F1 on the same test set by at least `margin`; never promote a model that
    failed the quality gate. A champion that exists but cannot be scored (`champion_unscored`
    says why) is replaced by a challenger that passed the gate: serving a model nobody can
    evaluate is the riskier side."""
    if not passed_quality_gate:
        floor = f"{f1_floor:.4f}" if f1_floor is not None else "the floor"
        return PromotionDecision(False, f"weighted F1 {challenger_f1:.4f} is below the quality floor "
                                 f"{floor}", challenger_f1, champion_f1, margin)
    if champion_f1 is None:
        why = champion_unscored or "no champion yet"
        return PromotionDecision(True, f"{why}; challenger weighted F1 {challenger_f1:.4f}",
                                 challenger_f1, None, margin)
    gain = challenger_f1 - champion_f1
    if gain >= margin:
        return PromotionDecision(True, f"challenger weighted F1 {challenger_f1:.4f} beats champion "
                                 f"{champion_f1:.4f} by {gain:+.4f} (margin {margin:.4f})",
                                 challenger_f1, champion_f1, margin)
    return PromotionDecision(False, f"challenger weighted F1 {challenger_f1:.4f} vs champion "
                             f"{champion_f1:.4f}: gain {gain:+.4f} is below the margin {margin:.4f}",
                             challenger_f1, champion_f1, margin)


class ModelRegistry:
    """Registry operations on the one registered model the system serves."""

    def __init__(self, settings: Settings, client: MlflowClient | None = None):
        self.settings = settings
        if client is None:
            configure_mlflow(settings)
            client = MlflowClient(tracking_uri=settings.tracking_uri,
                                  registry_uri=settings.tracking_uri)
        self.client = client
        self.name = settings.model_name
        self.alias = settings.champion_alias

    def champion(self) -> ModelVersion | None:
        try:
            return self.client.get_model_version_by_alias(self.name, self.alias)
        except (RestException, MlflowException) as exc:
            if _is_not_found(exc):
                return None
            raise

    def versions(self) -> list[ModelVersion]:
        try:
            found = self.client.search_model_versions(f"name='{self.name}'")
        except (RestException, MlflowException) as exc:
            if _is_not_found(exc):
                return []
            raise
        return sorted(found, key=lambda v: int(v.version), reverse=True)

    def version(self, version: str | int) -> ModelVersion:
        return self.client.get_model_version(self.name, str(version))

    def set_champion(self, version: str | int, *, reason: str) -> None:
        """Move the alias; the reason is kept on the version for whoever looks later."""
        self.client.set_registered_model_alias(self.name, self.alias, str(version))
        self.client.set_model_version_tag(self.name, str(version), PROMOTION_TAG, "promoted")
        self.client.set_model_version_tag(self.name, str(version), PROMOTION_REASON_TAG, reason)

    def tag_decision(self, version: str | int, decision: PromotionDecision) -> None:
        for key, value in decision.as_tags().items():
            self.client.set_model_version_tag(self.name, str(version), key, value)

    def run_metrics(self, run_id: str | None) -> dict[str, float]:
        if not run_id:
            return {}
        return dict(self.client.get_run(run_id).data.metrics)

    def model_uri(self, version: str | int | None = None) -> str:
        return f"models:/{self.name}/{version}" if version else f"models:/{self.name}@{self.alias}"


def _is_not_found(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    return code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or "not found" in str(exc).lower()
