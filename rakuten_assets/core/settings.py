"""All configuration, read from the environment (and an optional `.env` file) in one place.

Every variable is documented in docs/configuration.md; names are `RAKUTEN_*` except
`MLFLOW_TRACKING_URI` and `DAGSTER_HOME`, which keep the names their own tools read.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Every secret in .env.example is a `change-me-...` placeholder; a process started with one is
# refused (issue 10), naming the .env variable to set. Settings holding a secret -> that variable.
PLACEHOLDER_MARK = "change-me"
SECRET_SOURCES = {
    "database_url": "POSTGRES_PASSWORD",
    "mlflow_tracking_uri": "POSTGRES_PASSWORD",
    "admin_token": "RAKUTEN_ADMIN_TOKEN",
    "feedback_token": "RAKUTEN_FEEDBACK_TOKEN",
    "hub_users": "RAKUTEN_HUB_USERS",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAKUTEN_", env_file=".env", extra="ignore")

    # --- where things live -------------------------------------------------------------
    home: Path = Field(Path(".rakuten"), description="Folder for the embedded default: SQLite "
                       "database, MLflow store, Dagster home, reports.")
    database_url: str | None = Field(None, description="SQLAlchemy URL of the product store "
                                     "and inference log; default SQLite in RAKUTEN_HOME.")
    mlflow_tracking_uri: str | None = Field(
        None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "RAKUTEN_MLFLOW_TRACKING_URI"),
        description="MLflow tracking URI; default SQLite in RAKUTEN_HOME, artifacts beside it.")
    dagster_home: Path | None = Field(
        None, validation_alias=AliasChoices("DAGSTER_HOME", "RAKUTEN_DAGSTER_HOME"),
        description="Dagster instance folder; default RAKUTEN_HOME/dagster.")
    data_dir: Path | None = Field(None, description="Folder holding the official challenge CSVs "
                                  "(X_train_update.csv, Y_train_CVw08PX.csv). Unset: synthetic data.")

    # --- data arriving over time ---------------------------------------------------------
    synthetic_rows: int = Field(20_000, ge=100, description="Size of the synthetic catalogue.")
    synthetic_seed: int = Field(42, description="Seed of the synthetic generator.")
    initial_share: float = Field(0.5, gt=0, le=1, description="Share of the source ingested by "
                                 "the first batch.")
    batch_share: float = Field(0.1, gt=0, le=1, description="Share of the source each later "
                               "batch adds.")

    # --- training and promotion ------------------------------------------------------------
    test_size: float = Field(0.2, gt=0, lt=1, description="Held-out share of the training snapshot.")
    split_seed: int = Field(13, description="Seed of the stratified train/test split.")
    f1_floor: float = Field(0.6, ge=0, le=1, description="Model-quality gate: minimum weighted F1.")
    promotion_margin: float = Field(0.002, ge=0, description="A challenger must beat the "
                                    "champion's weighted F1 on the same test set by this much.")
    classifier: Literal["sgd_softmax", "sgd_sigmoid", "svm_sgd_blend"] = Field(
        "sgd_softmax", description="The classifier training fits (rakuten_assets/core/model.py): "
        "sgd_softmax (default), sgd_sigmoid (the default until 2026-12-04: per-class sigmoids, "
        "-0.9 points weighted F1 in cross-validation), or svm_sgd_blend (+0.6 points, 5-8x the default "
        "classifier's training CPU; docs/benchmarks.md).")
    model_name: str = Field("rakuten_classifier", description="Registered model name.")
    champion_alias: str = Field("champion", description="Registry alias that production serves.")
    experiment_name: str = Field("rakuten_classifier", description="MLflow experiment name.")

    # --- drift and retraining (issue 4) -------------------------------------------------------
    drift_window_rows: int | None = Field(500, ge=1, description="Newest inference-log rows a "
                                          "drift report compares (unset: no cap).")
    drift_window_hours: float | None = Field(None, gt=0, description="Only inference-log rows "
                                             "of the last T hours (unset: no time limit).")
    drift_min_rows: int = Field(200, ge=1, description="Fewer logged rows than this: the report "
                                "says insufficient_data and never drift.")
    drift_reference_rows: int = Field(5000, ge=100, description="Rows of the champion's training "
                                      "data kept as the drift reference (logged with the model).")
    drift_share_threshold: float = Field(0.4, gt=0, le=1, description="Share of drift signals "
                                         "that must drift for the report to say drift...")
    drift_min_signals: int = Field(2, ge=1, description="...and at least this many signals, so "
                                   "one noisy signal never fires alone.")
    drift_cooldown_minutes: float = Field(60, ge=0, description="After drift_sensor requests a "
                                          "retraining, further drift waits this long.")
    drift_cron: str = Field("*/30 * * * *", description="Schedule of the drift report "
                            "(drift_report_schedule, running by default).")
    ingest_cron: str = Field("0 * * * *", description="Schedule of the next-batch ingestion "
                             "(ingest_schedule, stopped by default: for demos).")
    retrain_min_new_rows: int = Field(1000, ge=1, description="new_data_sensor asks for a "
                                      "retraining once the store has grown by this many rows "
                                      "since the last training_dataset.")

    # --- ground truth: feedback labels (issue 12) -----------------------------------------------
    feedback_token: str | None = Field(None, repr=False, description="Bearer token of POST "
                                       "/feedback (labels for logged predictions); unset refuses "
                                       "feedback with 403.")
    labels_per_request: int = Field(200, ge=1, description="Labels a labelling request (opened by "
                                    "drift_sensor when drift comes without new labels) waits for "
                                    "before it asks for a retraining.")
    live_quality_window_hours: float = Field(168, gt=0, description="Live accuracy and weighted F1 "
                                             "(/metrics, hub) count the labelled predictions of the "
                                             "last T hours.")
    live_quality_min_labels: int = Field(30, ge=1, description="Fewer labels than this for a model "
                                         "version: no live accuracy is reported for it (too noisy).")
    promotion_min_feedback: int = Field(30, ge=1, description="With at least this many feedback "
                                        "labels on the test side, the promotion rule also compares "
                                        "the challenger and the champion on them.")
    promotion_test_tolerance: float = Field(0.01, ge=0, description="When feedback decides a "
                                            "promotion, the challenger may lose at most this much "
                                            "weighted F1 on the regular test split.")
    agreement_rows: int = Field(2000, ge=1, description="Recent logged predictions the challenger "
                                "re-predicts to measure its agreement with the champion.")

    # --- services ----------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Interface the API binds; also the host of the "
                          "Dagster UI started by `rakuten up`.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port of the prediction API.")
    hub_host: str = Field("127.0.0.1", description="Interface the Gradio hub binds.")
    hub_port: int = Field(7860, ge=1, le=65535, description="Port of the Gradio hub.")
    dagster_port: int = Field(3000, ge=1, le=65535, description="Port of the Dagster webserver "
                              "started by `rakuten up`.")
    admin_token: str | None = Field(None, description="Bearer token for admin endpoints; "
                                    "unset disables them.")
    api_max_batch: int = Field(256, ge=1, description="Most items one POST /predict/batch "
                               "accepts; more is a 422.")
    api_max_text_chars: int = Field(10_000, ge=1, description="Longest designation or "
                                    "description the API accepts, in characters; more is a 422.")
    api_max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Largest request "
                                    "body the API reads, in bytes; more is a 413.")
    api_max_header_bytes: int = Field(64 * 1024, ge=4096, description="Largest request line "
                                      "plus headers the API reads, in bytes; more is a 431.")
    api_max_headers: int = Field(100, ge=10, description="Most header fields in one request; "
                                 "more is a 431.")
    api_read_timeout_seconds: float = Field(15.0, gt=0, description="A request must arrive whole "
                                            "(headers and body) this long after its first byte, "
                                            "and a new connection must start one this soon; "
                                            "else a 408 and the connection closes.")
    api_keep_alive_seconds: float = Field(5.0, gt=0, description="An idle keep-alive connection "
                                          "is closed after this long.")
    api_max_connections: int = Field(1000, ge=2, description="Open connections the API keeps; a "
                                     "new one past it closes the one idle (or sending) longest.")
    api_shutdown_grace_seconds: float = Field(15.0, gt=0, description="At SIGTERM, how long "
                                              "requests already running may take to finish; "
                                              "those still running then get a 503 "
                                              "`shutting_down`.")
    api_poll_seconds: float = Field(10.0, gt=0, description="How often the API asks the "
                                    "registry whether the champion alias moved.")
    api_batch_wait_ms: float = Field(1.0, ge=0, description="Dynamic micro-batching: how long "
                                     "a single prediction may wait for others to join its batch.")
    api_batch_max_items: int = Field(64, ge=1, description="Dynamic micro-batching: most single "
                                     "requests predicted together in one call.")
    api_batch_part_chars: int = Field(262_144, ge=1, description="Most characters of text "
                                      "(designations plus descriptions) one turn of the model "
                                      "thread takes from a POST /predict/batch; a batch holding "
                                      "more runs in several parts, single predictions between them.")
    inference_log_flush_seconds: float = Field(0.5, gt=0, description="How often the API writes "
                                               "buffered inference-log rows to the database.")
    inference_log_buffer_max: int = Field(100_000, ge=1, description="Most inference-log rows "
                                          "held in memory while the database is unavailable; "
                                          "past it rows are dropped and counted.")

    # --- hub (gradio_hub) begin ---------------------------------------------------------------
    hub_users: str | None = Field(None, repr=False, description="Logins of the hub's control "
                                  "actions (ingest, materialise, promote, roll back) as "
                                  "`user:password,user2:password2`; unset leaves them open.")
    hub_protect_all: bool = Field(False, description="Put the whole hub, read-only views "
                                  "included, behind Gradio's login page (needs RAKUTEN_HUB_USERS).")
    hub_root_path: str | None = Field(None, description="Sub-path the hub is served under behind "
                                      "a reverse proxy, e.g. `/hub`.")
    hub_concurrency: int = Field(8, ge=1, description="Events of one kind the hub runs at once "
                                 "(Gradio's default_concurrency_limit); control actions run one "
                                 "at a time whatever this says.")
    hub_timeout_seconds: float = Field(3.0, gt=0, description="Timeout of the hub's calls to "
                                       "the API, Dagster, Prometheus and Grafana.")
    hub_batch_max_rows: int = Field(20_000, ge=1, description="Most rows the hub's batch "
                                    "prediction accepts in one uploaded CSV.")
    hub_max_upload_mb: int = Field(20, ge=1, description="Largest upload the hub accepts, "
                                   "per file and per request (larger ones get 413). Uploads "
                                   "need no login, so keep it small; the full official product "
                                   "file (~60 MB) needs 100.")
    hub_upload_max_age_seconds: int = Field(3600, ge=1, description="Age after which the hub "
                                            "deletes an uploaded file from Gradio's upload cache.")
    hub_upload_sweep_seconds: int = Field(1800, ge=1, description="How often the hub looks for "
                                          "uploaded files older than "
                                          "RAKUTEN_HUB_UPLOAD_MAX_AGE_SECONDS.")
    api_url: str | None = Field(None, description="Base URL of the prediction API the hub calls; "
                                "default http://RAKUTEN_API_HOST:RAKUTEN_API_PORT.")
    dagster_url: str | None = Field(None, description="Base URL of the Dagster webserver; "
                                    "default http://RAKUTEN_API_HOST:RAKUTEN_DAGSTER_PORT.")
    mlflow_ui_url: str | None = Field("http://127.0.0.1:5000", description="MLflow UI linked "
                                      "from the hub; empty hides the link.")
    prometheus_url: str | None = Field("http://127.0.0.1:9090", description="Prometheus server "
                                       "the hub checks and reads alerts from; empty: none.")
    grafana_url: str | None = Field("http://127.0.0.1:3001", description="Grafana linked from "
                                    "the hub; empty: none.")
    prometheus_config: Path | None = Field(None, description="Prometheus configuration `rakuten up` "
                                           "starts Prometheus with (when installed); default: the "
                                           "copy of monitoring/prometheus.local.yml shipped in the "
                                           "package.")
    hub_runs_in_process: bool = Field(True, description="Runs launched from the hub use Dagster's "
                                      "in-process executor (one process, not one per step: much "
                                      "faster on a small machine); false keeps the job's executor.")
    # --- hub (gradio_hub) end -----------------------------------------------------------------

    @field_validator("database_url", "mlflow_tracking_uri")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator(*SECRET_SOURCES)
    @classmethod
    def _no_placeholder_secret(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and PLACEHOLDER_MARK in value:
            raise ValueError(f"holds the `{PLACEHOLDER_MARK}` placeholder of .env.example: set a real "
                             f"{SECRET_SOURCES[info.field_name]} in .env")
        return value

    # --- derived locations ---------------------------------------------------------------------
    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home_dir / 'rakuten.db'}"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        """Where a local MLflow store keeps artifacts (unused with a tracking server)."""
        return self.home_dir / "mlartifacts"

    @property
    def dagster_home_dir(self) -> Path:
        return (self.dagster_home or self.home_dir / "dagster").expanduser().resolve()

    @property
    def reports_dir(self) -> Path:
        return self.home_dir / "reports"

    def ensure_dirs(self) -> None:
        for path in (self.home_dir, self.artifact_root, self.dagster_home_dir, self.reports_dir):
            path.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
