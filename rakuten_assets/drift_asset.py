"""The `drift_report` asset: recent production traffic (the API's inference log) against the
champion's own training data, with Evidently (see `drift.py` for the signals and the rule)."""

from datetime import datetime, timezone

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from rakuten_assets.drift import DriftSettings, build_drift_report, read_window, vocabulary_from_model
from rakuten_assets.registry import ModelRegistry
from rakuten_assets.settings import Settings, get_settings
from rakuten_assets.store import ProductStore
from rakuten_assets.training import load_reference


def drift_settings(settings: Settings) -> DriftSettings:
    return DriftSettings(window_rows=settings.drift_window_rows, window_hours=settings.drift_window_hours,
                         min_rows=settings.drift_min_rows,
                         reference_sample_size=max(settings.drift_reference_rows, settings.drift_min_rows),
                         drift_share_threshold=settings.drift_share_threshold,
                         min_drifted_signals=settings.drift_min_signals)


@asset(group_name="monitoring", compute_kind="evidently", required_resource_keys={"mlflow_monitoring"},
       deps=["promoted_model"],
       description="Evidently drift report: the recent inference-log window against the champion's "
                   "training data (text length, out-of-vocabulary share, language mix, text drift, "
                   "predicted-class distribution). drift_sensor retrains when it says drift.")
def drift_report(context: AssetExecutionContext) -> MaterializeResult:
    import mlflow.sklearn

    settings = get_settings()
    registry = ModelRegistry(settings)
    champion = registry.champion()
    store = ProductStore(settings.db_url)
    if champion is None:
        context.log.warning("no champion model: nothing to compare traffic with")
        store.dispose()
        return MaterializeResult(metadata={"status": "no_champion", "drift_detected": False,
                                           "drifted_share": 0.0})
    version = str(champion.version)
    model = mlflow.sklearn.load_model(registry.model_uri(version))
    reference = load_reference(champion.run_id, settings.tracking_uri)
    config = drift_settings(settings)
    current = read_window(store, config)
    result = build_drift_report(reference, current, vocabulary=vocabulary_from_model(model), settings=config)
    summary = result.summary()
    summary["model_version"] = version
    stem = "drift_report_" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    html_path, json_path = result.save(settings.reports_dir / "drift", stem)
    mlf = context.resources.mlflow_monitoring
    mlf.set_tags({"dagster_asset": "drift_report", "model_version": version, "status": result.status})
    mlf.log_metrics({"drifted_share": result.drifted_share, "drift_detected": float(result.drift_detected),
                     "rows_current": result.rows_current, "rows_reference": result.rows_reference,
                     **{f"score_{name}": score for name, score in summary["scores"].items() if score is not None}})
    mlf.log_artifact(str(html_path), artifact_path="drift")
    mlf.log_artifact(str(json_path), artifact_path="drift")
    mlf.finish()
    store.record_drift(status=result.status, drift_detected=result.drift_detected,
                       drifted_share=result.drifted_share, rows_reference=result.rows_reference,
                       rows_current=result.rows_current, model_version=version,
                       html_path=str(html_path), summary=summary)
    store.dispose()
    context.log.info(result.describe())
    return MaterializeResult(metadata={
        "status": result.status,
        "drift_detected": result.drift_detected,
        "drifted_share": result.drifted_share,
        "rows_current": result.rows_current,
        "rows_reference": result.rows_reference,
        "champion_version": version,
        "scores": MetadataValue.json(summary["scores"]),
        "drifted_signals": MetadataValue.json(summary["drifted"]),
        "notes": MetadataValue.json(summary["notes"]),
        "report_html": MetadataValue.path(str(html_path)),
        "report_json": MetadataValue.path(str(json_path)),
    })
