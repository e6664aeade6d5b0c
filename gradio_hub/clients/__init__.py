"""The hub's clients of the rest of the system, one per service: the API (`api`), Dagster
(`dagster`), the product store (`store`), the MLflow registry (`registry`), the drift reports
(`drift_reports`) and the optional HTTP services (`services`). No Gradio here: each call has a
timeout and fails with `ServiceUnavailable` / `ServiceError` in words a user understands."""
