"""The training assets: dataset snapshot -> TF-IDF features -> trained model -> evaluation ->
promotion. Each is a thin layer over the core (`core.training`, `core.model`, `core.promotion`)
and reports what a user wants to see in the Dagster UI as metadata."""

import re
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from rakuten_assets.core.model import build_classifier, describe_classifier
from rakuten_assets.core.feedback import (
    FEEDBACK_ID_BASE, REQUEST_OPEN, close_labelling_request, labelling_requests,
)
from rakuten_assets.core.promotion import MOVE_BY_RULE, LiveEvidence, decide_promotion, move_champion
from rakuten_assets.core.registry import AGREEMENT_TAG, DATASET_VERSION_TAG
from rakuten_assets.core.training import (
    REFERENCE_ARTIFACT_DIR,
    TEXT_COLUMNS,
    dataset_version,
    evaluate,
    log_model,
    log_reference,
    plot_confusion_matrix,
    reference_sample,
    split_train_test,
)
from rakuten_assets.core.training_features import (
    CleanTexts,
    FittedPart,
    assemble,
    clean_split_texts,
    feature_parts,
    fit_part,
    join_texts,
    row_chunks,
)
from rakuten_assets.defs.constants import (
    MODEL_EVALUATION,
    PRODUCTS,
    PROMOTED_MODEL,
    TFIDF_FEATURES,
    TRAINED_MODEL,
    TRAINING_DATASET,
    TRAINING_GROUP,
)
from rakuten_assets.defs.resources import (
    MlflowTracking,
    ModelRegistryResource,
    ProductStoreResource,
    SettingsResource,
)
from rakuten_assets.defs.types import ModelEvaluation, TfidfFeatures, TrainedModel


DATASET_VERSION_ATTR = "dataset_version"  # key in the snapshot frame's `attrs`


@dg.asset(key=TRAINING_DATASET, deps=[PRODUCTS], group_name=TRAINING_GROUP, kinds={"pandas"},
          description="Snapshot of every labelled product (catalogue rows and feedback labels) with "
                      "a stable train/test split and a content-hash version.")
def training_dataset(project_settings: SettingsResource, store: ProductStoreResource) -> dg.Output[pd.DataFrame]:
    settings = project_settings.load()
    # Taken before the read: a label that arrives while it runs counts as new to this dataset
    # (drift_sensor compares label arrival times with it), never as learnt.
    snapshot_at = datetime.now(timezone.utc)
    with store.open() as db:
        frame = db.labelled_products()
        # The labels these labelling requests waited for are in this snapshot. promoted_model
        # closes them once a model trained on it is decided: a run that fails after this step
        # leaves them open.
        met = [r.id for r in labelling_requests(db, status=REQUEST_OPEN) if r.satisfied]
    frame = split_train_test(frame, settings.test_size, settings.split_seed)
    counts = frame.groupby(["prdtypecode", "split"]).size().unstack(fill_value=0)
    # hashed once (5 s at 850k rows): the version travels with the frame to snapshot_facts
    frame.attrs[DATASET_VERSION_ATTR] = version = dataset_version(frame)
    return dg.Output(frame, metadata={
        "dataset_version": version,
        "snapshot_at": snapshot_at.isoformat(),
        "rows": len(frame),
        "train_rows": int((frame["split"] == "train").sum()),
        "test_rows": int((frame["split"] == "test").sum()),
        "classes": int(frame["prdtypecode"].nunique()),
        "feedback_rows": int((frame["productid"] >= FEEDBACK_ID_BASE).sum()),
        "labelling_requests_met": dg.MetadataValue.json(met),
        "empty_description_share": float(frame["description"].isna().mean()) if len(frame) else 0.0,
        "rows_per_class": dg.MetadataValue.md(counts.to_markdown()),
    })


# --- tfidf_features: a dynamic graph, one step per part of the featuriser --------------------------
# The word, character and word-shape vectorisers are fitted independently on the same texts, so each is its
# own step: Dagster's multiprocess executor (`parallel_training_job`), or its Celery and
# Kubernetes executors, run them at once; the in-process executor runs them one after the other.
# The asset is still `tfidf_features`, with the same output.

def _features_template():
    return build_classifier().named_steps["features"]


# Rows per text-cleaning step: at 850k rows, four steps of ~25 s each; fewer, bigger steps
# would leave a core idle, smaller ones pay a process start each under the multiprocess executor.
CLEAN_CHUNK_ROWS = 250_000


@dg.op(out=dg.DynamicOut(), description="The snapshot in row chunks (first row, rows), to clean in parallel.")
def snapshot_chunks(training_dataset: pd.DataFrame):
    columns = [*TEXT_COLUMNS, "prdtypecode", "split"]
    for start, stop in row_chunks(len(training_dataset), CLEAN_CHUNK_ROWS):
        yield dg.DynamicOutput((start, training_dataset.iloc[start:stop][columns]), mapping_key=f"rows_{start}")


@dg.op(description="One chunk's train and test texts, cleaned as the model reads them.")
def clean_texts(chunk: tuple[int, pd.DataFrame]) -> CleanTexts:
    first_row, rows = chunk
    return clean_split_texts(build_classifier().named_steps["text"], rows, first_row)


@dg.op(description="The cleaned chunks joined in snapshot order: the texts every featuriser part reads.")
def joined_texts(chunks: list[CleanTexts]) -> CleanTexts:
    return join_texts(chunks)


# `after_texts` orders this op after the cleaned texts exist without loading them. Without it a
# failed blocking check upstream (data_quality) left the mapped fit steps unresolvable and
# Dagster 1.13's in-process executor spun at 100% CPU instead of ending the failed run.
@dg.op(ins={"after_texts": dg.In(dg.Nothing)}, out=dg.DynamicOut(str),
       description="One output per independent part of the featuriser, once the texts are cleaned.")
def featuriser_parts():
    for name, _ in feature_parts(_features_template()):
        # mapping keys allow [A-Za-z0-9_] only; the part's own name travels as the value
        yield dg.DynamicOutput(name, mapping_key=re.sub(r"\W", "_", name))


@dg.op(description="Fits one featuriser part on the train texts and transforms both splits.")
def fit_feature_part(context: dg.OpExecutionContext, part: str, texts: CleanTexts) -> FittedPart:
    fitted = fit_part(part, dict(feature_parts(_features_template()))[part], texts)
    context.log.info(f"featuriser part {part}: {fitted.x_train.shape[1]} features, fitted in "
                     f"{fitted.fit_seconds:.1f} s")
    return fitted


@dg.op(description="The snapshot's content version, labels of each split, drift reference sample "
                   "and input example.")
def snapshot_facts(training_dataset: pd.DataFrame, project_settings: SettingsResource) -> dict:
    settings = project_settings.load()
    # the labels in snapshot order, as the cleaned texts are (clean_split_texts, join_texts):
    # assemble_features takes them from here rather than load every cleaned text for them
    split = training_dataset["split"]
    return {"y_train": training_dataset.loc[split == "train", "prdtypecode"].to_numpy(),
            "y_test": training_dataset.loc[split == "test", "prdtypecode"].to_numpy(),
            "dataset_version": (training_dataset.attrs.get(DATASET_VERSION_ATTR)
                                or dataset_version(training_dataset)),
            "reference": reference_sample(training_dataset, settings.drift_reference_rows, settings.split_seed),
            "input_example": training_dataset[TEXT_COLUMNS].head(3).reset_index(drop=True)}


@dg.op(description="The fitted featuriser made of its parts, with the stacked train and test matrices.")
def assemble_features(context: dg.OpExecutionContext, parts: list[FittedPart], facts: dict) -> TfidfFeatures:
    vocabulary = {p.name: int(p.x_train.shape[1]) for p in parts}
    fit_seconds = sum(p.fit_seconds for p in parts)  # CPU-seconds of fitting, wherever it ran
    features, x_train, x_test = assemble(_features_template(), parts)
    if (x_train.shape[0], x_test.shape[0]) != (len(facts["y_train"]), len(facts["y_test"])):
        raise RuntimeError(f"features for {x_train.shape[0]} + {x_test.shape[0]} rows, labels for "
                           f"{len(facts['y_train'])} + {len(facts['y_test'])}: the snapshot changed mid-run")
    context.add_output_metadata({
        "vocabulary": dg.MetadataValue.json(vocabulary),
        "n_features": int(x_train.shape[1]), "train_nnz": int(x_train.nnz),
        "fit_seconds": round(fit_seconds, 2), "parts": len(parts)})
    return TfidfFeatures(text=build_classifier().named_steps["text"], features=features,
                         x_train=x_train, x_test=x_test, fit_seconds=fit_seconds, **facts)


@dg.graph_asset(key=TFIDF_FEATURES, ins={"training_dataset": dg.AssetIn(TRAINING_DATASET)},
                group_name=TRAINING_GROUP, kinds={"scikit-learn"},
                description="Text cleaning + word, character and word-shape n-gram TF-IDF fitted on the train split, "
                            "with the transformed train and test matrices; one step per vectoriser.")
def tfidf_features(training_dataset):
    texts = joined_texts(snapshot_chunks(training_dataset).map(clean_texts).collect())
    parts = featuriser_parts(after_texts=texts).map(lambda part: fit_feature_part(part, texts))
    return assemble_features(parts.collect(), snapshot_facts(training_dataset))


@dg.asset(key=TRAINED_MODEL, ins={"tfidf_features": dg.AssetIn(TFIDF_FEATURES)}, deps=[TRAINING_DATASET],
          group_name=TRAINING_GROUP, kinds={"mlflow", "scikit-learn"},
          description="Calibrated linear classifier on the TF-IDF features, logged to MLflow as one "
                      "sklearn pipeline (cleaning included) and registered.")
def trained_model(context: dg.AssetExecutionContext, tfidf_features: TfidfFeatures,
                  project_settings: SettingsResource, registry: ModelRegistryResource, tracking: MlflowTracking) -> dg.Output[TrainedModel]:
    settings = project_settings.load()
    mlf = tracking.run
    classifier = clone(build_classifier(settings.classifier).named_steps["classifier"])
    test_rows = int(len(tfidf_features.y_test))
    # The test matrix is model_evaluation's (it loads its own copy): let it go before the fit,
    # which holds the train matrix twice (the calibration split copies it); 0.5 GB at 850k rows.
    tfidf_features.x_test = None
    started = time.perf_counter()
    classifier.fit(tfidf_features.x_train, tfidf_features.y_train)
    fit_seconds = time.perf_counter() - started
    tfidf_features.x_train = None
    pipeline = Pipeline([("text", tfidf_features.text), ("features", tfidf_features.features),
                         ("classifier", classifier)])
    version_of_data = tfidf_features.dataset_version
    mlf.log_params(describe_classifier(pipeline))
    mlf.log_params({"train_rows": int(len(tfidf_features.y_train)),
                    "test_rows": test_rows, DATASET_VERSION_TAG: version_of_data})
    mlf.set_tags({DATASET_VERSION_TAG: version_of_data, "dagster_asset": "trained_model"})
    mlf.log_metrics({"features_fit_seconds": tfidf_features.fit_seconds,
                     "classifier_fit_seconds": fit_seconds})
    with tempfile.TemporaryDirectory() as folder:
        mlf.log_artifact(str(log_reference(tfidf_features.reference, Path(folder))),
                         artifact_path=REFERENCE_ARTIFACT_DIR)
    started = time.perf_counter()
    info = log_model(pipeline, registered_model_name=settings.model_name,
                     input_example=tfidf_features.input_example)
    log_seconds = time.perf_counter() - started
    version = str(info.registered_model_version)
    models = registry.get()
    models.set_version_tags(version, {DATASET_VERSION_TAG: version_of_data})
    context.log.info(f"registered {settings.model_name} version {version} (run {info.run_id})")
    out = TrainedModel(pipeline=pipeline, version=version, run_id=info.run_id,
                       dataset_version=version_of_data)
    return dg.Output(out, metadata={"model_version": version, "mlflow_run_id": info.run_id,
                                    "model_uri": models.model_uri(version),
                                    "dataset_version": version_of_data,
                                    "classifier_fit_seconds": round(fit_seconds, 2),
                                    "log_model_seconds": round(log_seconds, 2)})


def _load_champion(models, challenger: TrainedModel):
    """(champion version, its pipeline or None, a note): the champion to compare with."""
    current = models.champion()
    if current is None:
        return None, None, "no champion yet"
    champion_version = str(current.version)  # MLflow hands back an int or a str by store type
    if champion_version == challenger.version:
        return champion_version, None, "the challenger is already champion"
    try:
        import mlflow.sklearn

        return champion_version, mlflow.sklearn.load_model(models.model_uri(champion_version)), ""
    except Exception as exc:  # noqa: BLE001 - any load failure means "cannot compare", said below
        return champion_version, None, f"champion v{champion_version} could not be scored: {exc}"


def snapshot_metadata(instance: dg.DagsterInstance, dataset_version: str | None, limit: int = 20) -> dict:
    """The metadata of the `training_dataset` materialisation with this dataset version (the
    newest of the last `limit`), or {} when this instance has none."""
    if not dataset_version:
        return {}
    records = instance.fetch_materializations(TRAINING_DATASET, limit=limit, ascending=False).records
    for record in records:
        metadata = record.asset_materialization.metadata
        version = metadata.get("dataset_version")
        if version is not None and version.value == dataset_version:
            return {key: getattr(value, "value", value) for key, value in metadata.items()}
    return {}


def _requests_met_by_snapshot(context: dg.AssetExecutionContext, dataset_version: str) -> list[int]:
    """The labelling requests `training_dataset` found met by the snapshot this model trained on:
    its materialisation with the model's dataset version (this run's, or the run a re-execution
    started from)."""
    met = snapshot_metadata(context.instance, dataset_version).get("labelling_requests_met")
    return [int(i) for i in met or []]


def _accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(truth == predicted)) if len(truth) else float("nan")


@dg.asset(key=MODEL_EVALUATION, ins={"training_dataset": dg.AssetIn(TRAINING_DATASET),
                                     "tfidf_features": dg.AssetIn(TFIDF_FEATURES),
                                     "trained_model": dg.AssetIn(TRAINED_MODEL)},
          group_name=TRAINING_GROUP, kinds={"mlflow"},
          description="Weighted/macro/per-class F1 and confusion matrix on the test split, beside the "
                      "current champion scored on the same test rows; both models' accuracy on the "
                      "feedback labels of the test split (live traffic neither trained on), and the "
                      "challenger's agreement with the champion on recent logged traffic.")
def model_evaluation(training_dataset: pd.DataFrame, tfidf_features: TfidfFeatures,
                     trained_model: TrainedModel, project_settings: SettingsResource,
                     store: ProductStoreResource, registry: ModelRegistryResource,
                     tracking: MlflowTracking) -> dg.Output[ModelEvaluation]:
    settings = project_settings.load()
    mlf = tracking.run
    classifier = trained_model.pipeline.named_steps["classifier"]
    test = training_dataset[training_dataset["split"] == "test"]
    x_test = tfidf_features.x_test
    if x_test is None:  # an in-memory IO manager hands over the object trained_model emptied
        x_test = tfidf_features.features.transform(tfidf_features.text.transform(test[TEXT_COLUMNS]))
    predicted = classifier.predict(x_test)
    result = evaluate(tfidf_features.y_test, predicted)
    mlf.log_metrics(result.metrics())
    image = plot_confusion_matrix(
        tfidf_features.y_test, predicted,
        settings.reports_dir / f"confusion_matrix_v{trained_model.version}.png",
        f"{settings.model_name} v{trained_model.version}: weighted F1 {result.weighted_f1:.3f}")
    mlf.log_artifact(str(image), artifact_path="evaluation")

    from_feedback = (test["productid"] >= FEEDBACK_ID_BASE).to_numpy()
    truth = np.asarray(tfidf_features.y_test)
    challenger_live = _accuracy(truth[from_feedback], predicted[from_feedback])
    champion, champion_model, champion_note = _load_champion(registry.get(), trained_model)
    champion_f1 = champion_live = agreement = None
    agreement_rows = 0
    if champion_model is not None:
        champion_predicted = np.asarray(champion_model.predict(test[TEXT_COLUMNS]))
        champion_f1 = evaluate(test["prdtypecode"], champion_predicted).weighted_f1
        champion_live = _accuracy(truth[from_feedback], champion_predicted[from_feedback])
        champion_note = f"champion v{champion} scored on the same {len(test)} test rows"
        mlf.log_metric("champion_weighted_f1_same_test", champion_f1)
        with store.open() as db:
            recent = db.read_inference_log(last_rows=settings.agreement_rows)
        if len(recent):
            texts = recent[TEXT_COLUMNS]
            same = trained_model.pipeline.predict(texts) == champion_model.predict(texts)
            agreement, agreement_rows = float(np.mean(same)), len(recent)
            mlf.log_metrics({"champion_agreement_recent_traffic": agreement})
    feedback_labels = int(from_feedback.sum())
    if feedback_labels:
        mlf.log_metrics({"test_feedback_labels": feedback_labels, "test_feedback_accuracy": challenger_live})
        if champion_live is not None:
            mlf.log_metric("champion_feedback_accuracy_same_labels", champion_live)
    out = ModelEvaluation(weighted_f1=result.weighted_f1, macro_f1=result.macro_f1,
                          accuracy=result.accuracy, per_class_f1=result.per_class_f1,
                          champion_version=champion, champion_weighted_f1=champion_f1,
                          champion_note=champion_note, confusion_matrix=str(image),
                          feedback_labels=feedback_labels,
                          feedback_accuracy=challenger_live if feedback_labels else None,
                          champion_feedback_accuracy=champion_live if feedback_labels else None,
                          agreement=agreement, agreement_rows=agreement_rows)
    return dg.Output(out, metadata={
        "weighted_f1": result.weighted_f1, "macro_f1": result.macro_f1, "accuracy": result.accuracy,
        "champion_version": champion or "none",
        "champion_weighted_f1_same_test": champion_f1 if champion_f1 is not None else "n/a",
        "champion_note": champion_note,
        "feedback_labels_in_test": feedback_labels,
        "feedback_accuracy": out.feedback_accuracy if out.feedback_accuracy is not None else "n/a",
        "champion_feedback_accuracy": champion_live if feedback_labels and champion_live is not None else "n/a",
        "champion_agreement_recent_traffic": agreement if agreement is not None else "n/a",
        "agreement_rows": agreement_rows,
        "per_class_f1": dg.MetadataValue.md(result.per_class_markdown()),
        "confusion_matrix": dg.MetadataValue.path(str(image))})


@dg.asset(key=PROMOTED_MODEL, ins={"trained_model": dg.AssetIn(TRAINED_MODEL),
                                   "model_evaluation": dg.AssetIn(MODEL_EVALUATION)},
          group_name=TRAINING_GROUP, kinds={"mlflow"},
          description="The registry decision: the `champion` alias moves to the challenger when it "
                      "passes the quality floor and beats the champion by the configured margin.")
def promoted_model(context: dg.AssetExecutionContext, trained_model: TrainedModel,
                   model_evaluation: ModelEvaluation, project_settings: SettingsResource,
                   store: ProductStoreResource, registry: ModelRegistryResource,
                   tracking: MlflowTracking) -> dg.MaterializeResult:
    settings = project_settings.load()
    mlf = tracking.run
    models = registry.get()
    challenger = trained_model.version
    f1 = model_evaluation.weighted_f1
    unscored = (model_evaluation.champion_note
                if model_evaluation.champion_version and model_evaluation.champion_weighted_f1 is None
                else None)
    live = None
    if model_evaluation.feedback_labels and model_evaluation.champion_feedback_accuracy is not None:
        live = LiveEvidence(model_evaluation.feedback_labels, model_evaluation.feedback_accuracy,
                            model_evaluation.champion_feedback_accuracy)
    decision = decide_promotion(f1, model_evaluation.champion_weighted_f1, settings.promotion_margin,
                                passed_quality_gate=f1 >= settings.f1_floor, f1_floor=settings.f1_floor,
                                champion_unscored=unscored, live=live,
                                min_live_labels=settings.promotion_min_feedback,
                                test_tolerance=settings.promotion_test_tolerance)
    # The rule's decision on this version, written once: later moves of the alias by people
    # are recorded in the champion_moves trail and never overwrite it. The challenger's agreement
    # with the champion on recent traffic is recorded with it: how much production would change.
    agreement = model_evaluation.agreement
    extra = ({AGREEMENT_TAG: f"{agreement:.4f} on {model_evaluation.agreement_rows} recent predictions"}
             if agreement is not None else {})
    models.set_version_tags(challenger, {**decision.as_tags(), **extra})
    before = model_evaluation.champion_version
    if decision.promote:
        with store.open() as db:
            move_champion(models, db, challenger, kind=MOVE_BY_RULE,
                          actor=f"dagster run {context.run.run_id[:8]}", reason=decision.reason)
    # The model trained on the labels the labelling requests waited for is decided, promoted or
    # not: the requests are met. Closed here rather than when the snapshot is taken, so a run
    # that failed in between leaves them open.
    met = set(_requests_met_by_snapshot(context, trained_model.dataset_version))
    with store.open() as db:
        closed = [r.id for r in labelling_requests(db, status=REQUEST_OPEN) if r.id in met]
        for request_id in closed:
            close_labelling_request(db, request_id)
    mlf.set_tags({**decision.as_tags(), **extra})
    mlf.log_metric("promoted", 1.0 if decision.promote else 0.0)
    context.log.info(f"{'PROMOTED' if decision.promote else 'not promoted'} v{challenger}: {decision.reason}")
    mlf.finish()
    after = models.champion()
    return dg.MaterializeResult(metadata={
        "decision": "promoted" if decision.promote else "rejected",
        "reason": decision.reason,
        "challenger_version": challenger,
        "champion_before": before or "none",
        "champion_after": str(after.version) if after else "none",
        "moved_by": "rule",
        "feedback_labels_in_test": model_evaluation.feedback_labels,
        "labelling_requests_closed": dg.MetadataValue.json(closed),
        "champion_agreement_recent_traffic": agreement if agreement is not None else "n/a",
        "challenger_weighted_f1": f1,
        "champion_weighted_f1_same_test": (model_evaluation.champion_weighted_f1
                                           if model_evaluation.champion_weighted_f1 is not None else "n/a"),
    })
