"""The jobs sensors, schedules, the hub and the CLI run, by name."""

import dagster as dg

from rakuten_assets.defs.constants import DRIFT_REPORT, PRODUCTS, TRAINING_KEYS

all_assets_job = dg.define_asset_job(
    "all_assets_job", selection=dg.AssetSelection.assets(PRODUCTS, *TRAINING_KEYS),
    description="Ingest the next batch, then train, evaluate and maybe promote.")
training_job = dg.define_asset_job(
    "training_job", selection=dg.AssetSelection.assets(*TRAINING_KEYS),
    description="Dataset snapshot through promotion, on the rows already in the store.")
ingest_job = dg.define_asset_job(
    "ingest_job", selection=dg.AssetSelection.assets(PRODUCTS),
    description="Ingest the next batch of the source, or the files named in the run configuration.")
parallel_training_job = dg.define_asset_job(
    "parallel_training_job", selection=dg.AssetSelection.assets(*TRAINING_KEYS),
    # max_concurrent 0: one step per CPU. Each step is a process: spawned, it imported Dagster,
    # MLflow, pandas and scikit-learn again (~12 s a step here, 3.4x the in-process wall time at
    # 85k rows); a forkserver that has imported them once forks ready step processes.
    executor_def=dg.multiprocess_executor.configured({"max_concurrent": 0, "start_method": {"forkserver": {
        "preload_modules": ["rakuten_assets.definitions", "rakuten_assets.core.training_features",
                            "rakuten_assets.core.model", "mlflow.sklearn", "pandas", "scipy.sparse"]}}}),
    description="training_job on Dagster's multiprocess executor: the text-cleaning chunks and the "
                "featuriser parts of tfidf_features run as parallel processes (docs/scaling.md).")
drift_job = dg.define_asset_job(
    "drift_job", selection=dg.AssetSelection.assets(DRIFT_REPORT),
    description="Compare recent traffic with the champion's training data.")

ALL_JOBS = [all_assets_job, training_job, parallel_training_job, ingest_job, drift_job]
