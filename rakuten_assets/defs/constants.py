"""Asset keys, groups and run tags shared by assets, jobs, sensors and the CLI. The hub must not
import Dagster (an import-linter contract), so its Dagster client names the same keys and jobs as
plain strings; tests/hub/test_clients.py checks that they match these."""

import dagster as dg

PRODUCTS = dg.AssetKey("products")
TRAINING_DATASET = dg.AssetKey("training_dataset")
TFIDF_FEATURES = dg.AssetKey("tfidf_features")
TRAINED_MODEL = dg.AssetKey("trained_model")
MODEL_EVALUATION = dg.AssetKey("model_evaluation")
PROMOTED_MODEL = dg.AssetKey("promoted_model")
DRIFT_REPORT = dg.AssetKey("drift_report")

TRAINING_KEYS = (TRAINING_DATASET, TFIDF_FEATURES, TRAINED_MODEL, MODEL_EVALUATION, PROMOTED_MODEL)

INGESTION_GROUP = "ingestion"
TRAINING_GROUP = "training"
MONITORING_GROUP = "monitoring"

# Why a run was requested, on the runs sensors start (read by the hub and in the Dagster UI).
TRIGGER_TAG = "rakuten/trigger"
