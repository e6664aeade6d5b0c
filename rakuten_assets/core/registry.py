"""The MLflow model registry as the rest of the system sees it: where the tracking store is,
which version is champion, and the promotion rule.

Plain MLflow, no Dagster: the API and the hub use this module too. Inside Dagster runs, MLflow
runs are opened through `rakuten_assets.tracking` (dagster-mlflow); both point MLflow at the
same place with `configure_mlflow`.
"""

from __future__ import annotations

from urllib.parse import urlparse

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException, RestException

from rakuten_assets.core.settings import Settings

PROMOTION_TAG = "promotion_decision"
PROMOTION_REASON_TAG = "promotion_reason"
DATASET_VERSION_TAG = "dataset_version"
AGREEMENT_TAG = "champion_agreement"  # the challenger's agreement with the champion on recent traffic


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

    def point_alias(self, version: str | int) -> None:
        """Point the serving alias at `version`. Call `promotion.move_champion` instead: it
        records the move."""
        self.client.set_registered_model_alias(self.name, self.alias, str(version))

    def set_version_tags(self, version: str | int, tags: dict[str, str]) -> None:
        for key, value in tags.items():
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
