"""Sensors that close the loop: retrain when the store has grown enough or when the latest drift
report says drift, and leave no MLflow run RUNNING when a Dagster run fails."""

import json
import time

import dagster as dg
import mlflow
from mlflow.entities import RunStatus

from rakuten_assets.defs.constants import DRIFT_REPORT, TRAINING_DATASET, TRIGGER_TAG
from rakuten_assets.defs.jobs import training_job
from rakuten_assets.defs.resources import (
    ProductStoreResource,
    SettingsResource,
    mlflow_runs_of,
)


def _metadata_value(event, key: str, default=None):
    if event is None or event.asset_materialization is None:
        return default
    value = event.asset_materialization.metadata.get(key)
    return getattr(value, "value", default) if value is not None else default


@dg.sensor(name="new_data_sensor", job=training_job, minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests training_job once the product store has grown by "
                       "RAKUTEN_RETRAIN_MIN_NEW_ROWS rows since the last training_dataset.")
def new_data_sensor(context: dg.SensorEvaluationContext, project_settings: SettingsResource,
                    store: ProductStoreResource):
    settings = project_settings.load()
    min_new_rows = settings.retrain_min_new_rows
    with store.open() as db:
        products = db.count_products()
    latest = context.instance.get_latest_materialization_event(TRAINING_DATASET)
    trained_on = int(_metadata_value(latest, "rows", 0) or 0)
    grown = products - trained_on
    if products == 0 or grown < min_new_rows:
        return dg.SkipReason(f"{products} products, {trained_on} in the last training_dataset: "
                             f"{grown} new < {min_new_rows}")
    # The run key makes the request once per store size, however often the sensor ticks.
    return dg.RunRequest(run_key=f"new-data-{products}",
                         tags={TRIGGER_TAG: "new_data", "rakuten/new_rows": str(grown)})


@dg.sensor(name="drift_sensor", job=training_job, minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests training_job when the latest drift_report says drift: one run per "
                       "drift report (cursor), none during RAKUTEN_DRIFT_COOLDOWN_MINUTES after a "
                       "request.")
def drift_sensor(context: dg.SensorEvaluationContext, project_settings: SettingsResource):
    settings = project_settings.load()
    cooldown_minutes = settings.drift_cooldown_minutes
    cursor = json.loads(context.cursor) if context.cursor else {}
    records = context.instance.fetch_materializations(DRIFT_REPORT, limit=1, ascending=False).records
    if not records:
        return dg.SkipReason("no drift_report yet")
    latest, storage_id = records[0].event_log_entry, records[0].storage_id
    if storage_id <= cursor.get("last_seen", -1):
        return dg.SkipReason(f"drift_report {storage_id} already handled")
    cursor["last_seen"] = storage_id
    if not _metadata_value(latest, "drift_detected", False):
        return dg.SensorResult(skip_reason="latest drift_report: no drift", cursor=json.dumps(cursor))
    now = time.time()
    cool_until = cursor.get("last_request_at", 0) + cooldown_minutes * 60
    if now < cool_until:
        return dg.SensorResult(skip_reason=f"drift, but cooling down for {cool_until - now:.0f} s more",
                               cursor=json.dumps(cursor))
    cursor["last_request_at"] = now
    share = _metadata_value(latest, "drifted_share", 0.0)
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"drift-{storage_id}",
                                                       tags={TRIGGER_TAG: "drift",
                                                             "rakuten/drifted_share": f"{share:.3f}"})],
                           cursor=json.dumps(cursor))


@dg.run_failure_sensor(name="mlflow_run_failure_sensor", minimum_interval_seconds=30,
                       default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Marks the MLflow run of a failed Dagster run as FAILED, so no "
                                   "run is left RUNNING in MLflow.")
def mlflow_run_failure_sensor(context: dg.RunFailureSensorContext, project_settings: SettingsResource):
    if context.dagster_run.status != dg.DagsterRunStatus.FAILURE:
        return
    client = mlflow.MlflowClient()
    for run in mlflow_runs_of(context.dagster_run.run_id, project_settings.load()):
        if run.info.status == RunStatus.to_string(RunStatus.RUNNING):
            client.set_terminated(run.info.run_id, status="FAILED")
            context.log.info(f"MLflow run {run.info.run_id} marked FAILED")


ALL_SENSORS = [new_data_sensor, drift_sensor, mlflow_run_failure_sensor]
