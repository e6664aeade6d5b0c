"""Models for tests: a small synthetic catalogue, a pipeline fitted on it once per session, and
registering a version (optionally champion) the way the pipeline does."""

from __future__ import annotations

import functools

import pandas as pd


def small_labelled_frame(n_rows: int = 3000, seed: int = 7) -> pd.DataFrame:
    from rakuten_assets.core.synthetic import generate_catalogue

    return generate_catalogue(n_rows, seed=seed)


@functools.lru_cache(maxsize=1)
def fitted_pipeline():
    """One `build_classifier()` fitted on the small synthetic catalogue, shared by every test
    of the session that only needs *a* fitted model (fitting dominates those tests' time)."""
    from rakuten_assets.core.model import build_classifier
    from rakuten_assets.core.training import TEXT_COLUMNS

    frame = small_labelled_frame()
    return frame, build_classifier().fit(frame[TEXT_COLUMNS], frame["prdtypecode"])


def register_model(settings, frame: pd.DataFrame, *, alias: bool = True, pipeline=None,
                   reason: str = "test fixture") -> str:
    """Log + register a pipeline (fitting build_classifier() on `frame` unless a fitted
    `pipeline` is given) with its evaluation metrics; optionally make it champion through
    `move_champion`. Returns the version string."""
    import mlflow

    from rakuten_assets.core.model import build_classifier
    from rakuten_assets.core.promotion import MOVE_BY_PERSON, move_champion
    from rakuten_assets.core.registry import ModelRegistry, ensure_experiment
    from rakuten_assets.core.store import ProductStore
    from rakuten_assets.core.training import TEXT_COLUMNS, evaluate, log_model

    experiment_id = ensure_experiment(settings)
    if pipeline is None:
        pipeline = build_classifier().fit(frame[TEXT_COLUMNS], frame["prdtypecode"])
    with mlflow.start_run(experiment_id=experiment_id):
        result = evaluate(frame["prdtypecode"], pipeline.predict(frame[TEXT_COLUMNS]))
        mlflow.log_metrics(result.metrics())
        info = log_model(pipeline, registered_model_name=settings.model_name,
                         input_example=frame[TEXT_COLUMNS].head(2))
    version = str(info.registered_model_version)
    if alias:
        store = ProductStore(settings.db_url)
        try:
            move_champion(ModelRegistry(settings), store, version, kind=MOVE_BY_PERSON,
                          actor="test", reason=reason)
        finally:
            store.dispose()
    return version


def register_version(settings, *, alias: bool = True) -> str:
    """`register_model` without the refit: the shared fitted pipeline as a new version."""
    frame, pipeline = fitted_pipeline()
    return register_model(settings, frame, alias=alias, pipeline=pipeline, reason="test")
