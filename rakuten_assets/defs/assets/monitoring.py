"""The `drift_report` asset: recent production traffic (the API's inference log) against the
champion's own training data, with Evidently (`core.drift` has the signals and the rule)."""

from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from rakuten_assets.core.drift import (
    DriftSettings,
    build_drift_report,
    read_window,
    vocabulary_from_model,
)
from rakuten_assets.core.settings import Settings
from rakuten_assets.core.training import load_reference
from rakuten_assets.defs.constants import DRIFT_REPORT, MONITORING_GROUP, PROMOTED_MODEL
from rakuten_assets.defs.resources import (
    MlflowTracking,
    ModelRegistryResource,
    ProductStoreResource,
    SettingsResource,
)


def drift_settings(settings: Settings) -> DriftSettings:
    return DriftSettings(window_rows=settings.drift_window_rows, window_hours=settings.drift_window_hours,
                         min_rows=settings.drift_min_rows,
                         reference_sample_size=max(settings.drift_reference_rows, settings.drift_min_rows),
                         drift_share_threshold=settings.drift_share_threshold,
                         min_drifted_signals=settings.drift_min_signals)


@dg.asset(key=DRIFT_REPORT, deps=[PROMOTED_MODEL], group_name=MONITORING_GROUP, kinds={"evidently"},
          description="Evidently drift report: the recent inference-log window against the champion's "
                      "training data (text length, out-of-vocabulary share, language mix, text drift, "
                      "predicted-class distribution). drift_sensor retrains when it says drift.")
def drift_report(context: dg.AssetExecutionContext, project_settings: SettingsResource,
                 store: ProductStoreResource, registry: ModelRegistryResource,
                 drift_tracking: MlflowTracking) -> dg.MaterializeResult:
    import mlflow.sklearn

    settings = project_settings.load()
    models = registry.get()
    champion = models.champion()
    if champion is None:
        context.log.warning("no champion model: nothing to compare traffic with")
        return dg.MaterializeResult(metadata={"status": "no_champion", "drift_detected": False,
                                              "drifted_share": 0.0})
    version = str(champion.version)
    model = mlflow.sklearn.load_model(models.model_uri(version))
    reference = load_reference(champion.run_id, settings.tracking_uri)
    config = drift_settings(settings)
    with store.open() as db:
        window = read_window(db, config)
        result = build_drift_report(reference, window, vocabulary=vocabulary_from_model(model), settings=config)
        summary = result.summary()
        summary["model_version"] = version
        stem = "drift_report_" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        html_path, json_path = result.save(settings.reports_dir / "drift", stem)
        mlf = drift_tracking.run
        mlf.set_tags({"dagster_asset": "drift_report", "model_version": version, "status": result.status})
        mlf.log_metrics({"drifted_share": result.drifted_share, "drift_detected": float(result.drift_detected),
                         "rows_current": result.rows_current, "rows_reference": result.rows_reference,
                         **{f"score_{name}": score for name, score in summary["scores"].items()
                            if score is not None}})
        mlf.log_artifact(str(html_path), artifact_path="drift")
        mlf.log_artifact(str(json_path), artifact_path="drift")
        mlf.finish()
        report_id = db.record_drift(status=result.status, drift_detected=result.drift_detected,
                        drifted_share=result.drifted_share, rows_reference=result.rows_reference,
                        rows_current=result.rows_current, model_version=version,
                        html_path=str(html_path), summary=summary)
    context.log.info(result.describe())
    created = pd.to_datetime(window["created_at"], utc=True) if len(window) else None
    return dg.MaterializeResult(metadata={
        # The traffic this report judged: where a labelling request asks for labels.
        "window_start": created.min().isoformat() if created is not None else "",
        "window_end": created.max().isoformat() if created is not None else "",
        "drift_report_id": report_id,
        "status": result.status,
        "drift_detected": result.drift_detected,
        "drifted_share": result.drifted_share,
        "rows_current": result.rows_current,
        "rows_reference": result.rows_reference,
        "champion_version": version,
        "scores": dg.MetadataValue.json(summary["scores"]),
        "drifted_signals": dg.MetadataValue.json(summary["drifted"]),
        "notes": dg.MetadataValue.json(summary["notes"]),
        "report_html": dg.MetadataValue.path(str(html_path)),
        "report_json": dg.MetadataValue.path(str(json_path)),
    })
