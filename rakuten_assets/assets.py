"""The Dagster software-defined assets: product rows -> dataset -> features -> model ->
evaluation -> promotion. Each asset is a thin layer over plain functions (`sources`,
`training`, `registry`) and reports what a user wants to see in the Dagster UI as metadata.
"""


import tempfile
import time
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from dagster import (
    AssetCheckResult, AssetCheckSeverity, AssetExecutionContext, MaterializeResult, MetadataValue,
    Output, asset, asset_check,
)
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from rakuten_assets.model import build_classifier, describe_classifier
from rakuten_assets.registry import (
    DATASET_VERSION_TAG, ModelRegistry, decide_promotion,
)
from rakuten_assets.settings import get_settings
from rakuten_assets.sources import ingest_next, source_from_settings
from rakuten_assets.store import ProductStore
from rakuten_assets.training import (
    REFERENCE_ARTIFACT_DIR, TEXT_COLUMNS, data_quality_problems, dataset_version, evaluate,
    log_model, log_reference, plot_confusion_matrix, reference_sample, split_train_test,
)

GROUP = "training"


def _store() -> ProductStore:
    return ProductStore(get_settings().db_url)


@asset(group_name="ingestion", compute_kind="sqlalchemy",
       description="Product rows in the store: each materialisation ingests the next batch of "
                   "the configured source (official CSVs or the synthetic catalogue).")
def products(context: AssetExecutionContext) -> MaterializeResult:
    settings = get_settings()
    store = _store()
    result = ingest_next(store, source_from_settings(settings), settings)
    total = store.count_products()
    if result is None:
        context.log.info("the source is exhausted: no new batch")
        summary, rejections, accepted = "source exhausted: no new rows", {}, 0
    else:
        context.log.info(result.summary())
        summary, rejections, accepted = result.summary(), result.rejections, result.rows_accepted
    batches_loaded = len(store.batches())
    store.dispose()
    return MaterializeResult(metadata={
        "total_products": total,
        "rows_added": accepted,
        "rows_rejected": sum(rejections.values()),
        "rejections": MetadataValue.json(rejections),
        "batch": summary,
        "batches_loaded": batches_loaded,
    })


@asset(group_name=GROUP, deps=[products], compute_kind="pandas",
       description="Snapshot of every labelled product with a stable train/test split and a "
                   "content-hash version.")
def training_dataset(context: AssetExecutionContext) -> Output[pd.DataFrame]:
    settings = get_settings()
    store = _store()
    frame = store.labelled_products()
    store.dispose()
    frame = split_train_test(frame, settings.test_size, settings.split_seed)
    version = dataset_version(frame)
    counts = frame.groupby(["prdtypecode", "split"]).size().unstack(fill_value=0)
    return Output(frame, metadata={
        "dataset_version": version,
        "rows": len(frame),
        "train_rows": int((frame["split"] == "train").sum()),
        "test_rows": int((frame["split"] == "test").sum()),
        "classes": int(frame["prdtypecode"].nunique()),
        "empty_description_share": float(frame["description"].isna().mean()),
        "rows_per_class": MetadataValue.md(counts.to_markdown() if hasattr(counts, "to_markdown")
                                           else counts.to_string()),
    })


@asset_check(asset=training_dataset, blocking=True,
             description="No empty titles, only the 27 known codes, every class in train and test.")
def data_quality(training_dataset: pd.DataFrame) -> AssetCheckResult:
    problems = data_quality_problems(training_dataset)
    return AssetCheckResult(passed=not problems, severity=AssetCheckSeverity.ERROR,
                            metadata={"problems": MetadataValue.json(problems),
                                      "rows": len(training_dataset)})


@asset(group_name=GROUP, compute_kind="scikit-learn",
       description="Text cleaning + word and character n-gram TF-IDF fitted on the train split, "
                   "with the transformed train and test matrices.")
def tfidf_features(context: AssetExecutionContext, training_dataset: pd.DataFrame) -> Output[dict]:
    template = build_classifier()
    text_step, features = template.named_steps["text"], clone(template.named_steps["features"])
    train = training_dataset[training_dataset["split"] == "train"]
    test = training_dataset[training_dataset["split"] == "test"]
    started = time.perf_counter()
    x_train = features.fit_transform(text_step.transform(train[TEXT_COLUMNS]))
    fit_seconds = time.perf_counter() - started
    x_test = features.transform(text_step.transform(test[TEXT_COLUMNS]))
    vocab = {name: len(step.vocabulary_) for name, step in features.transformer_list}
    return Output({"text": text_step, "features": features, "x_train": x_train,
                   "y_train": train["prdtypecode"].to_numpy(), "x_test": x_test,
                   "y_test": test["prdtypecode"].to_numpy(), "fit_seconds": fit_seconds},
                  metadata={"vocabulary": MetadataValue.json(vocab),
                            "n_features": int(x_train.shape[1]),
                            "train_nnz": int(x_train.nnz), "fit_seconds": round(fit_seconds, 2)})


@asset(group_name=GROUP, compute_kind="mlflow", required_resource_keys={"mlflow"},
       description="Calibrated linear classifier on the TF-IDF features, logged to MLflow as one "
                   "sklearn pipeline (cleaning included) and registered.")
def trained_model(context: AssetExecutionContext, training_dataset: pd.DataFrame,
                  tfidf_features: dict) -> Output[dict]:
    settings = get_settings()
    mlf = context.resources.mlflow
    classifier = clone(build_classifier().named_steps["classifier"])
    started = time.perf_counter()
    classifier.fit(tfidf_features["x_train"], tfidf_features["y_train"])
    fit_seconds = time.perf_counter() - started
    pipeline = Pipeline([("text", tfidf_features["text"]), ("features", tfidf_features["features"]),
                         ("classifier", classifier)])
    version_of_data = dataset_version(training_dataset)
    mlf.log_params(describe_classifier(pipeline))
    mlf.log_params({"train_rows": int(len(tfidf_features["y_train"])),
                    "test_rows": int(len(tfidf_features["y_test"])), DATASET_VERSION_TAG: version_of_data})
    mlf.set_tags({DATASET_VERSION_TAG: version_of_data, "dagster_asset": "trained_model"})
    mlf.log_metrics({"features_fit_seconds": tfidf_features["fit_seconds"],
                     "classifier_fit_seconds": fit_seconds})
    with tempfile.TemporaryDirectory() as folder:
        reference = reference_sample(training_dataset, settings.drift_reference_rows, settings.split_seed)
        mlf.log_artifact(str(log_reference(reference, Path(folder))), artifact_path=REFERENCE_ARTIFACT_DIR)
    example = training_dataset[TEXT_COLUMNS].head(3)
    started = time.perf_counter()
    info = log_model(pipeline, registered_model_name=settings.model_name, input_example=example)
    log_seconds = time.perf_counter() - started
    version = str(info.registered_model_version)
    run_id = mlflow.active_run().info.run_id
    registry = ModelRegistry(settings)
    registry.client.set_model_version_tag(settings.model_name, version, DATASET_VERSION_TAG, version_of_data)
    context.log.info(f"registered {settings.model_name} version {version} (run {run_id})")
    return Output({"pipeline": pipeline, "version": version, "run_id": run_id,
                   "dataset_version": version_of_data},
                  metadata={"model_version": version, "mlflow_run_id": run_id,
                            "model_uri": registry.model_uri(version),
                            "dataset_version": version_of_data,
                            "classifier_fit_seconds": round(fit_seconds, 2),
                            "log_model_seconds": round(log_seconds, 2)})


@asset(group_name=GROUP, compute_kind="mlflow", required_resource_keys={"mlflow"},
       description="Weighted/macro/per-class F1 and confusion matrix on the test split, beside the "
                   "current champion scored on the same test rows.")
def model_evaluation(context: AssetExecutionContext, training_dataset: pd.DataFrame,
                     tfidf_features: dict, trained_model: dict) -> Output[dict]:
    settings = get_settings()
    mlf = context.resources.mlflow
    classifier = trained_model["pipeline"].named_steps["classifier"]
    predicted = classifier.predict(tfidf_features["x_test"])
    result = evaluate(tfidf_features["y_test"], predicted)
    mlf.log_metrics(result.metrics())
    image = plot_confusion_matrix(
        tfidf_features["y_test"], predicted,
        settings.reports_dir / f"confusion_matrix_v{trained_model['version']}.png",
        f"{settings.model_name} v{trained_model['version']}: weighted F1 {result.weighted_f1:.3f}")
    mlf.log_artifact(str(image), artifact_path="evaluation")

    champion, champion_f1, champion_note = _score_champion(settings, training_dataset, trained_model)
    if champion_f1 is not None:
        mlf.log_metric("champion_weighted_f1_same_test", champion_f1)
    return Output({"weighted_f1": result.weighted_f1, "macro_f1": result.macro_f1,
                   "per_class_f1": result.per_class_f1, "champion_version": champion,
                   "champion_weighted_f1": champion_f1, "champion_note": champion_note,
                   "confusion_matrix": str(image)},
                  metadata={"weighted_f1": result.weighted_f1, "macro_f1": result.macro_f1,
                            "accuracy": result.accuracy,
                            "champion_version": champion or "none",
                            "champion_weighted_f1_same_test": champion_f1 if champion_f1 is not None else "n/a",
                            "champion_note": champion_note,
                            "per_class_f1": MetadataValue.md(result.per_class_markdown()),
                            "confusion_matrix": MetadataValue.path(str(image))})


def _score_champion(settings, training_dataset: pd.DataFrame, trained_model: dict):
    """The champion re-scored on this run's test rows, so the comparison is like for like."""
    registry = ModelRegistry(settings)
    current = registry.champion()
    if current is None:
        return None, None, "no champion yet"
    champion_version = str(current.version)  # MLflow hands back an int or a str by store type
    if champion_version == trained_model["version"]:
        return champion_version, None, "the challenger is already champion"
    test = training_dataset[training_dataset["split"] == "test"]
    try:
        import mlflow.sklearn
        model = mlflow.sklearn.load_model(registry.model_uri(champion_version))
        f1 = evaluate(test["prdtypecode"], model.predict(test[TEXT_COLUMNS])).weighted_f1
    except Exception as exc:  # noqa: BLE001 - any load failure means "cannot compare", said below
        return champion_version, None, f"champion v{champion_version} could not be scored: {exc}"
    return champion_version, f1, f"champion v{champion_version} scored on the same {len(test)} test rows"


@asset_check(asset=model_evaluation, description="Weighted F1 on the test split is at least "
                                                 "RAKUTEN_F1_FLOOR.")
def model_quality(model_evaluation: dict) -> AssetCheckResult:
    floor = get_settings().f1_floor
    return AssetCheckResult(passed=model_evaluation["weighted_f1"] >= floor,
                            metadata={"weighted_f1": model_evaluation["weighted_f1"], "floor": floor})


@asset(group_name=GROUP, compute_kind="mlflow", required_resource_keys={"mlflow"},
       description="The registry decision: the `champion` alias moves to the challenger when it "
                   "passes the quality floor and beats the champion by the configured margin.")
def promoted_model(context: AssetExecutionContext, trained_model: dict,
                   model_evaluation: dict) -> MaterializeResult:
    settings = get_settings()
    mlf = context.resources.mlflow
    registry = ModelRegistry(settings)
    challenger = trained_model["version"]
    f1 = model_evaluation["weighted_f1"]
    unscored = (model_evaluation["champion_note"]
                if model_evaluation["champion_version"] and model_evaluation["champion_weighted_f1"] is None
                else None)
    decision = decide_promotion(f1, model_evaluation["champion_weighted_f1"], settings.promotion_margin,
                                passed_quality_gate=f1 >= settings.f1_floor, f1_floor=settings.f1_floor,
                                champion_unscored=unscored)
    before = model_evaluation["champion_version"]
    if decision.promote:
        registry.set_champion(challenger, reason=decision.reason)
    else:
        registry.tag_decision(challenger, decision)
    mlf.set_tags(decision.as_tags())
    mlf.log_metric("promoted", 1.0 if decision.promote else 0.0)
    context.log.info(f"{'PROMOTED' if decision.promote else 'not promoted'} v{challenger}: {decision.reason}")
    mlf.finish()
    after = registry.champion()
    return MaterializeResult(metadata={
        "decision": "promoted" if decision.promote else "rejected",
        "reason": decision.reason,
        "challenger_version": challenger,
        "champion_before": before or "none",
        "champion_after": str(after.version) if after else "none",
        "challenger_weighted_f1": f1,
        "champion_weighted_f1_same_test": (model_evaluation["champion_weighted_f1"]
                                           if model_evaluation["champion_weighted_f1"] is not None else "n/a"),
    })


ALL_ASSETS: list[Any] = [products, training_dataset, tfidf_features, trained_model,
                         model_evaluation, promoted_model]
ALL_CHECKS: list[Any] = [data_quality, model_quality]
TRAINING_ASSETS = [training_dataset, tfidf_features, trained_model, model_evaluation, promoted_model]
