"""Sensors that close the loop: retrain when the store has grown enough; on drift, retrain only
when there is something new to learn (feedback labels), else ask for labels and retrain once they
are in; leave no MLflow run RUNNING when a Dagster run fails."""

import json
import time
from datetime import datetime, timezone

import dagster as dg
import mlflow
from mlflow.entities import RunStatus

from rakuten_assets.core.feedback import (
    REQUEST_OPEN,
    count_labels,
    labelling_requests,
    open_labelling_request,
)
from rakuten_assets.core.registry import DATASET_VERSION_TAG
from rakuten_assets.defs.assets.training import snapshot_metadata
from rakuten_assets.defs.constants import DRIFT_REPORT, TRAINING_DATASET, TRIGGER_TAG
from rakuten_assets.defs.jobs import training_job
from rakuten_assets.defs.resources import (
    ModelRegistryResource,
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
           description="When the latest drift_report says drift: requests training_job if enough "
                       "feedback labels arrived since the champion's dataset was taken "
                       "(RAKUTEN_LABELS_PER_REQUEST), else opens a labelling request for the drifted "
                       "traffic and requests training_job once that request has its labels. One "
                       "decision per drift report (cursor); no drift retraining during "
                       "RAKUTEN_DRIFT_COOLDOWN_MINUTES after one.")
def drift_sensor(context: dg.SensorEvaluationContext, project_settings: SettingsResource,
                 store: ProductStoreResource, registry: ModelRegistryResource):
    settings = project_settings.load()
    cursor = json.loads(context.cursor) if context.cursor else {}
    run_requests, notes = [], []
    with store.open() as db:
        # Labelling requests that now have their labels: one retraining each (the run key keeps it
        # to one however often the sensor ticks). promoted_model closes the request once a model
        # trained on its labels is decided; if that run fails the request stays open, and the next
        # training run that gets as far closes it (the run key is not reused: no retry loop).
        for request in labelling_requests(db, status=REQUEST_OPEN):
            if request.satisfied:
                run_requests.append(dg.RunRequest(run_key=f"labels-{request.id}", tags={
                    TRIGGER_TAG: "labels", "rakuten/labelling_request": str(request.id),
                    "rakuten/labels": str(request.labels)}))
            else:
                notes.append(f"labelling request {request.id} has {request.labels} of "
                             f"{request.labels_needed} labels")
        records = context.instance.fetch_materializations(DRIFT_REPORT, limit=1, ascending=False).records
        if not records:
            notes.append("no drift_report yet")
        elif records[0].storage_id <= cursor.get("last_seen", -1):
            notes.append(f"drift_report {records[0].storage_id} already handled")
        else:
            latest, storage_id = records[0].event_log_entry, records[0].storage_id
            cursor["last_seen"] = storage_id
            if not _metadata_value(latest, "drift_detected", False):
                notes.append("latest drift_report: no drift")
            else:
                decision = _on_drift(context.instance, db, registry.get(), settings, latest, storage_id,
                                     cursor)
                if isinstance(decision, dg.RunRequest):
                    run_requests.append(decision)
                else:
                    notes.append(decision)
    if run_requests:
        return dg.SensorResult(run_requests=run_requests, cursor=json.dumps(cursor))
    return dg.SensorResult(skip_reason="; ".join(notes), cursor=json.dumps(cursor))


def labels_new_to(instance, champion) -> tuple[datetime | None, str]:
    """Since when a label is new to the champion, and the words for it: the snapshot of the
    dataset it trained on (training_dataset's `snapshot_at`, found by the version's dataset tag),
    else its registration (a version trained outside this Dagster instance). Registration alone
    would miss the labels that arrived while the champion itself trained."""
    if champion is None:
        return None, "ever (no champion)"
    snapshot_at = snapshot_metadata(instance, (champion.tags or {}).get(DATASET_VERSION_TAG)).get("snapshot_at")
    if snapshot_at:
        return datetime.fromisoformat(snapshot_at), "the champion's dataset was taken"
    return (datetime.fromtimestamp(int(champion.creation_timestamp) / 1000, tz=timezone.utc),
            "the champion was registered")


def _on_drift(instance, db, models, settings, latest, storage_id: int, cursor: dict) -> dg.RunRequest | str:
    """Drift: retrain when there is something new to learn, else ask for labels."""
    since, since_when = labels_new_to(instance, models.champion())
    new_labels = count_labels(db, received_since=since)
    if new_labels >= settings.labels_per_request:
        now = time.time()
        cool_until = cursor.get("last_request_at", 0) + settings.drift_cooldown_minutes * 60
        if now < cool_until:
            return f"drift, but cooling down for {cool_until - now:.0f} s more"
        cursor["last_request_at"] = now
        share = _metadata_value(latest, "drifted_share", 0.0)
        return dg.RunRequest(run_key=f"drift-{storage_id}", tags={
            TRIGGER_TAG: "drift", "rakuten/drifted_share": f"{share:.3f}", "rakuten/new_labels": str(new_labels)})
    if labelling_requests(db, status=REQUEST_OPEN):
        return f"drift again, {new_labels} new labels since {since_when}; a labelling request is already open"
    end = datetime.now(timezone.utc)
    start = _metadata_value(latest, "window_start", "") or None
    window_start = datetime.fromisoformat(start) if start else end
    window_end = datetime.fromisoformat(_metadata_value(latest, "window_end", "") or end.isoformat())
    version = _metadata_value(latest, "champion_version", None)
    signals = _metadata_value(latest, "drifted_signals", []) or []
    request_id = open_labelling_request(
        db, window_start=window_start, window_end=window_end, labels_needed=settings.labels_per_request,
        drift_report_id=_metadata_value(latest, "drift_report_id", None), model_version=version,
        note=(f"drift ({', '.join(map(str, signals)) or 'signals'}) on the traffic of champion v{version}; "
              f"{new_labels} labels arrived since {since_when}: retraining on unchanged data "
              "cannot fix drift, labels for the new traffic can"))
    return (f"drift, but only {new_labels} new labels since {since_when}: labelling request "
            f"{request_id} opened for {settings.labels_per_request} labels")


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
