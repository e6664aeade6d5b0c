"""How Dagster runs reach MLflow: one resource, built on dagster-mlflow's `mlflow_tracking`.

dagster-mlflow gives one MLflow run per Dagster run: each step that needs the resource finds
the run by its `dagster_run_id` tag (so steps in separate processes share it) or starts it.
We add two things:
- the experiment is created first with our artifact location (MLflow would otherwise put
  artifacts in an `mlruns` folder of whatever directory the process started in);
- runs are ended explicitly: by the last asset that logs (`promoted_model`) on success, and by
  `mlflow_run_failure_sensor` when a Dagster run fails. dagster-mlflow's
  `end_mlflow_on_run_finished` hook is not used: it ends the MLflow run after the op that comes
  last in topological order, which with asset checks and subset selections is not the last
  step to log, so later steps would log into a finished run (upstream issue #21872).
"""


from collections.abc import Callable

import mlflow
from dagster import (
    DagsterRunStatus, DefaultSensorStatus, RunFailureSensorContext, resource, run_failure_sensor,
)
from dagster_mlflow.resources import MlFlow
from mlflow.entities import RunStatus

from rakuten_assets.registry import ensure_experiment
from rakuten_assets.settings import Settings, get_settings


class RakutenMlflow(MlFlow):
    """dagster-mlflow's MlFlow, with the experiment created our way before it looks it up."""

    def __init__(self, context):
        ensure_experiment(get_settings(), context.resource_config["experiment_name"])
        super().__init__(context)

    def finish(self, status: str = "FINISHED") -> None:
        """End this Dagster run's MLflow run: the active one in this process, else the one
        tagged with our dagster_run_id (a step in another process started it)."""
        active = mlflow.active_run()
        if active is not None and active.data.tags.get("dagster_run_id") in (None, self.dagster_run_id):
            mlflow.end_run(status=status)
            return
        run_id = self.mlflow_run_id or self._get_current_run_id()
        if run_id:
            self.tracking_client.set_terminated(run_id, status=status)


class _ConfiguredContext:
    """The resource's init context with dagster-mlflow's config filled from our settings at run
    time, so a code location loaded once follows RAKUTEN_*/MLFLOW_TRACKING_URI of the process
    that executes the run."""

    def __init__(self, context, resource_config: dict):
        self._context = context
        self.resource_config = resource_config

    def __getattr__(self, name):
        return getattr(self._context, name)


def _tracking_resource(experiment_of: Callable[[Settings], str], what: str):
    @resource(description=f"MLflow tracking through dagster-mlflow for {what}: one MLflow run per "
                          "Dagster run, configured from the project settings.")
    def _resource(context) -> RakutenMlflow:
        settings = get_settings()
        config = {"experiment_name": experiment_of(settings),
                  "mlflow_tracking_uri": settings.tracking_uri,
                  "parent_run_id": None, "mlflow_run_id": None, "env": {}, "env_to_tag": None,
                  "extra_tags": {"orchestrator": "dagster"}}
        return RakutenMlflow(_ConfiguredContext(context, config))

    return _resource


def monitoring_experiment(settings: Settings) -> str:
    return f"{settings.experiment_name}_monitoring"


# Training runs and drift reports go to separate experiments, so the list of training runs
# (which the hub shows and promotion compares) holds only trainings.
mlflow_tracking_resource = _tracking_resource(lambda s: s.experiment_name, "training")
mlflow_monitoring_resource = _tracking_resource(monitoring_experiment, "drift reports")


def mlflow_runs_of(dagster_run_id: str, settings: Settings) -> list:
    from rakuten_assets.registry import configure_mlflow
    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(settings.experiment_name)
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id],
                              filter_string=f"tags.dagster_run_id = '{dagster_run_id}'")


@run_failure_sensor(name="mlflow_run_failure_sensor", minimum_interval_seconds=30,
                    default_status=DefaultSensorStatus.RUNNING,
                    description="Marks the MLflow run of a failed Dagster run as FAILED, so no "
                                "run is left RUNNING in MLflow.")
def mlflow_run_failure_sensor(context: RunFailureSensorContext):
    if context.dagster_run.status != DagsterRunStatus.FAILURE:
        return
    settings = get_settings()
    client = mlflow.MlflowClient()
    for run in mlflow_runs_of(context.dagster_run.run_id, settings):
        if run.info.status == RunStatus.to_string(RunStatus.RUNNING):
            client.set_terminated(run.info.run_id, status="FAILED")
            context.log.info(f"MLflow run {run.info.run_id} marked FAILED")
