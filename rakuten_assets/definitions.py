"""The Dagster code location: every asset, check, job, sensor and schedule of the project.
Loaded by `workspace.yaml` (`dagster dev -w workspace.yaml`) and by `rakuten materialize`."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job

from rakuten_assets.assets import ALL_ASSETS, ALL_CHECKS, TRAINING_ASSETS, products
from rakuten_assets.tracking import mlflow_run_failure_sensor, mlflow_tracking_resource

all_assets_job = define_asset_job(
    "all_assets_job", selection=AssetSelection.assets(*ALL_ASSETS),
    description="Ingest the next batch, then train, evaluate and maybe promote.")
training_job = define_asset_job(
    "training_job", selection=AssetSelection.assets(*TRAINING_ASSETS),
    description="Dataset snapshot through promotion, on the rows already in the store.")
ingest_job = define_asset_job(
    "ingest_job", selection=AssetSelection.assets(products),
    description="Ingest the next batch of the source.")

defs = Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[all_assets_job, training_job, ingest_job],
    sensors=[mlflow_run_failure_sensor],
    resources={"mlflow": mlflow_tracking_resource},
)
