"""The resources every asset, check and sensor uses, as `dg.ConfigurableResource` classes.

- `SettingsResource`: the project settings (`core.settings.Settings`), read when a step or a
  sensor tick runs, from the environment of the process that runs it, not when the code location
  loads: a code server loaded once follows the deployment it executes in.
- `ProductStoreResource`: the product store (`core.store.ProductStore`), opened for one step.
- `ModelRegistryResource`: the MLflow registry (`core.registry.ModelRegistry`).
- `MlflowTracking`: the MLflow run of a Dagster run, through dagster-mlflow's `MlFlow`: each step
  that uses it finds the run by its `dagster_run_id` tag (so steps in separate processes share
  one run) or starts it. Two things are ours: the experiment is created first with the project's
  artifact location (MLflow would otherwise write an `mlruns` folder wherever the process
  started), and runs are ended explicitly, by the last asset that logs (`finish()`) and by
  `mlflow_run_failure_sensor` for failed Dagster runs. dagster-mlflow's
  `end_mlflow_on_run_finished` hook ends the run after the op last in topological order, which
  with asset checks and subset selections is not the last step to log (upstream issue #21872).
"""

import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import dagster as dg
import mlflow
from pydantic import PrivateAttr

from rakuten_assets.core.registry import (
    ModelRegistry,
    configure_mlflow,
    ensure_experiment,
)
from rakuten_assets.core.settings import Settings
from rakuten_assets.core.store import ProductStore

with warnings.catch_warnings():
    # dagster-mlflow marks itself beta on import; nobody using this project can act on that.
    warnings.simplefilter("ignore")
    from dagster_mlflow.resources import MlFlow


class SettingsResource(dg.ConfigurableResource):
    """The RAKUTEN_* settings (and MLFLOW_TRACKING_URI, DAGSTER_HOME) of the running process."""

    def load(self) -> Settings:
        return Settings()


class ProductStoreResource(dg.ConfigurableResource):
    """The product store and inference log of the configured database (RAKUTEN_DATABASE_URL)."""

    settings: dg.ResourceDependency[SettingsResource]

    @contextmanager
    def open(self) -> Iterator[ProductStore]:
        store = ProductStore(self.settings.load().db_url)
        try:
            yield store
        finally:
            store.dispose()


class ModelRegistryResource(dg.ConfigurableResource):
    """The MLflow model registry holding the served model (RAKUTEN_MODEL_NAME, its alias)."""

    settings: dg.ResourceDependency[SettingsResource]

    def get(self) -> ModelRegistry:
        return ModelRegistry(self.settings.load())


def monitoring_experiment(settings: Settings) -> str:
    return f"{settings.experiment_name}_monitoring"


class RakutenMlflow(MlFlow):
    """dagster-mlflow's `MlFlow` (run sharing by `dagster_run_id`, tags, every `mlflow.*` call as
    a method), built from explicit values instead of a legacy resource context."""

    def __init__(self, *, log, job_name: str, dagster_run_id: str, tracking_uri: str,
                 experiment_name: str, extra_tags: dict[str, str]):
        self.log = log
        self.run_name = job_name
        self.dagster_run_id = dagster_run_id
        self.tracking_uri = tracking_uri
        mlflow.set_tracking_uri(tracking_uri)
        self.parent_run_id = None
        self.mlflow_run_id = None
        self.experiment_name = experiment_name
        self.env_tags_to_log = []
        self.extra_tags = extra_tags
        self.env_vars = {}
        mlflow.set_experiment(experiment_name)
        self.experiment = mlflow.get_experiment_by_name(experiment_name)
        self.tracking_client = mlflow.MlflowClient()
        self._setup()

    @property
    def run_id(self) -> str:
        return self.mlflow_run_id or mlflow.active_run().info.run_id

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


class MlflowTracking(dg.ConfigurableResource):
    """One MLflow run per Dagster run, in the training experiment or the monitoring one (drift
    reports), so the list of training runs holds only trainings."""

    settings: dg.ResourceDependency[SettingsResource]
    experiment: Literal["training", "monitoring"] = "training"
    _run: RakutenMlflow | None = PrivateAttr(default=None)
    _context: dg.InitResourceContext | None = PrivateAttr(default=None)

    def experiment_name(self, settings: Settings) -> str:
        return settings.experiment_name if self.experiment == "training" else monitoring_experiment(settings)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # The MLflow run is opened on first use: sensors and tests that build every resource
        # outside a run never open one.
        self._context = context

    @property
    def run(self) -> RakutenMlflow:
        if self._run is None:
            context = self._context
            if context is None or context.run is None:
                raise RuntimeError("MlflowTracking is only usable inside a Dagster run")
            settings = self.settings.load()
            name = self.experiment_name(settings)
            ensure_experiment(settings, name)
            self._run = RakutenMlflow(log=context.log, job_name=context.run.job_name,
                                      dagster_run_id=context.run.run_id,
                                      tracking_uri=settings.tracking_uri, experiment_name=name,
                                      extra_tags={"orchestrator": "dagster"})
        return self._run


def mlflow_runs_of(dagster_run_id: str, settings: Settings) -> list:
    """The MLflow runs a Dagster run opened (training and monitoring experiments)."""
    configure_mlflow(settings)
    client = mlflow.MlflowClient()
    found = []
    for name in (settings.experiment_name, monitoring_experiment(settings)):
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            found += client.search_runs([experiment.experiment_id],
                                        filter_string=f"tags.dagster_run_id = '{dagster_run_id}'")
    return found


@functools.cache
def _malloc_trim():
    """glibc's `malloc_trim`, or None off glibc. Looked up once: `find_library` runs ldconfig."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


def _return_freed_memory() -> None:
    """Hand the memory earlier steps freed back to the operating system (glibc only; a no-op
    elsewhere). The in-process executor runs every step in one process, and glibc keeps what a
    step freed in its heaps, fragmented by millions of small strings: at 850k rows the process
    entered the feature assembly holding 1.7 GB it no longer used (measured: generating the
    catalogue then freeing it left 750 MB resident, 330 MB after a trim)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class _Protocol5Pickles(dg.UPathIOManager):
    """Dagster's filesystem pickling, at pickle protocol 5: protocol 4 (Dagster's) copies every
    numpy array into a bytes object to write it and again to read it, so a step writing the
    850k-row TF-IDF matrix held its largest array twice; protocol 5 writes and reads the
    arrays' buffers in place."""

    extension: str = ""

    def dump_to_path(self, context: dg.OutputContext, obj, path) -> None:
        import pickle

        with path.open("wb") as file:
            pickle.dump(obj, file, protocol=5)

    def load_from_path(self, context: dg.InputContext, path):
        import pickle

        # a step loads its inputs first: the moment to give back what the previous step freed
        _return_freed_memory()
        with path.open("rb") as file:
            return pickle.load(file)


class PicklingFilesystemIOManager(dg.ConfigurableIOManagerFactory):
    """Step outputs pickled under `base_dir` (default: the instance's storage directory, where
    Dagster's own FilesystemIOManager writes)."""

    base_dir: str | None = None

    def create_io_manager(self, context: dg.InitResourceContext) -> _Protocol5Pickles:
        from upath import UPath

        return _Protocol5Pickles(base_path=UPath(self.base_dir or context.instance.storage_directory()))


def project_resources() -> dict[str, dg.ConfigurableResource | dg.ConfigurableIOManagerFactory]:
    """The resources `definitions.py` binds, by the names assets and sensors ask for."""
    settings = SettingsResource()
    return {
        "project_settings": settings,
        "store": ProductStoreResource(settings=settings),
        "registry": ModelRegistryResource(settings=settings),
        "tracking": MlflowTracking(settings=settings, experiment="training"),
        "drift_tracking": MlflowTracking(settings=settings, experiment="monitoring"),
        # Named, not left to the default: `execute_in_process` (what `rakuten materialize` runs)
        # swaps the default for an in-memory IO manager that holds every step's output until the
        # run ends (at 850k rows the snapshot, both TF-IDF matrices and the model at once). Pickled
        # to the instance's storage, a step's output is freed when the step ends, and steps in
        # other processes (multiprocess executor, run launchers) read it the same way.
        "io_manager": PicklingFilesystemIOManager(),
    }
