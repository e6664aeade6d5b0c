"""The Dagster code location: every asset, check, job, sensor and schedule of the project.
Loaded by `workspace.yaml` (`dagster dev -w workspace.yaml`) and by `rakuten materialize`."""

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from rakuten_assets.assets import ALL_ASSETS, ALL_CHECKS, TRAINING_ASSETS, products
from rakuten_assets.drift_asset import drift_report
from rakuten_assets.sensors import make_drift_sensor, make_new_data_sensor, make_schedules
from rakuten_assets.tracking import (
    mlflow_monitoring_resource, mlflow_run_failure_sensor, mlflow_tracking_resource,
)

all_assets_job = define_asset_job(
    "all_assets_job", selection=AssetSelection.assets(*ALL_ASSETS),
    description="Ingest the next batch, then train, evaluate and maybe promote.")
training_job = define_asset_job(
    "training_job", selection=AssetSelection.assets(*TRAINING_ASSETS),
    description="Dataset snapshot through promotion, on the rows already in the store.")
ingest_job = define_asset_job(
    "ingest_job", selection=AssetSelection.assets(products),
    description="Ingest the next batch of the source.")
drift_job = define_asset_job(
    "drift_job", selection=AssetSelection.assets(drift_report),
    description="Compare recent traffic with the champion's training data.")

defs = Definitions(
    assets=[*ALL_ASSETS, drift_report],
    asset_checks=ALL_CHECKS,
    jobs=[all_assets_job, training_job, ingest_job, drift_job],
    sensors=[mlflow_run_failure_sensor, make_new_data_sensor(training_job), make_drift_sensor(training_job)],
    schedules=make_schedules(drift_job, ingest_job),
    resources={"mlflow": mlflow_tracking_resource, "mlflow_monitoring": mlflow_monitoring_resource},
    # One process per run: on a 2-core machine, a process per step spends more time importing
    # Dagster, MLflow and scikit-learn and pickling matrices between steps than the steps take.
    # Scale-out swaps this for a run launcher / executor of Dagster's (see docs/scaling.md).
    executor=in_process_executor,
)
