"""Sensors and schedules that close the loop: retrain when the store has grown enough or when
the latest drift report says drift, report drift periodically, ingest batches for demos."""

import json
import time

from dagster import (
    AssetKey, DefaultScheduleStatus, DefaultSensorStatus, RunRequest, ScheduleDefinition,
    SensorEvaluationContext, SensorResult, SkipReason, sensor,
)

from rakuten_assets.settings import get_settings
from rakuten_assets.store import ProductStore

TRAINING_DATASET = AssetKey("training_dataset")
DRIFT_REPORT = AssetKey("drift_report")


def _metadata_value(event, key: str, default=None):
    if event is None or event.asset_materialization is None:
        return default
    value = event.asset_materialization.metadata.get(key)
    return getattr(value, "value", default) if value is not None else default


def make_new_data_sensor(job):
    @sensor(name="new_data_sensor", job=job, minimum_interval_seconds=60,
            default_status=DefaultSensorStatus.RUNNING,
            description="Requests training_job once the product store has grown by "
                        "RAKUTEN_RETRAIN_MIN_NEW_ROWS rows since the last training_dataset.")
    def new_data_sensor(context: SensorEvaluationContext):
        settings = get_settings()
        store = ProductStore(settings.db_url)
        try:
            products = store.count_products()
        finally:
            store.dispose()
        latest = context.instance.get_latest_materialization_event(TRAINING_DATASET)
        trained_on = int(_metadata_value(latest, "rows", 0) or 0)
        grown = products - trained_on
        if products == 0 or grown < settings.retrain_min_new_rows:
            return SkipReason(f"{products} products, {trained_on} in the last training_dataset: "
                              f"{grown} new < {settings.retrain_min_new_rows}")
        # The run key makes the request once per store size, however often the sensor ticks.
        return RunRequest(run_key=f"new-data-{products}",
                          tags={"rakuten/trigger": "new_data", "rakuten/new_rows": str(grown)})

    return new_data_sensor


def make_drift_sensor(job):
    @sensor(name="drift_sensor", job=job, minimum_interval_seconds=60,
            default_status=DefaultSensorStatus.RUNNING,
            description="Requests training_job when the latest drift_report says drift: one run per "
                        "drift report (cursor), none during RAKUTEN_DRIFT_COOLDOWN_MINUTES after a "
                        "request.")
    def drift_sensor(context: SensorEvaluationContext):
        settings = get_settings()
        cursor = json.loads(context.cursor) if context.cursor else {}
        records = context.instance.fetch_materializations(DRIFT_REPORT, limit=1, ascending=False).records
        if not records:
            return SkipReason("no drift_report yet")
        latest, storage_id = records[0].event_log_entry, records[0].storage_id
        if storage_id <= cursor.get("last_seen", -1):
            return SkipReason(f"drift_report {storage_id} already handled")
        cursor["last_seen"] = storage_id
        if not _metadata_value(latest, "drift_detected", False):
            return SensorResult(skip_reason="latest drift_report: no drift", cursor=json.dumps(cursor))
        now = time.time()
        cool_until = cursor.get("last_request_at", 0) + settings.drift_cooldown_minutes * 60
        if now < cool_until:
            return SensorResult(skip_reason=f"drift, but cooling down for {cool_until - now:.0f} s more",
                                cursor=json.dumps(cursor))
        cursor["last_request_at"] = now
        share = _metadata_value(latest, "drifted_share", 0.0)
        return SensorResult(run_requests=[RunRequest(run_key=f"drift-{storage_id}",
                                                     tags={"rakuten/trigger": "drift",
                                                           "rakuten/drifted_share": f"{share:.3f}"})],
                            cursor=json.dumps(cursor))

    return drift_sensor


def make_schedules(drift_job, ingest_job):
    settings = get_settings()
    return [
        ScheduleDefinition(name="drift_report_schedule", job=drift_job, cron_schedule=settings.drift_cron,
                           default_status=DefaultScheduleStatus.RUNNING,
                           description="Materialises drift_report (RAKUTEN_DRIFT_CRON)."),
        ScheduleDefinition(name="ingest_schedule", job=ingest_job, cron_schedule=settings.ingest_cron,
                           default_status=DefaultScheduleStatus.STOPPED,
                           description="Ingests the next data batch (RAKUTEN_INGEST_CRON); off by "
                                       "default, for demos."),
    ]
