"""The Dagster code location `rakuten`: everything under `defs/`, with the project's resources.

Loaded by `workspace.yaml` (`dagster dev -w workspace.yaml`), by the code server in compose
(`dagster api grpc -m rakuten_assets.definitions -a defs`) and by `rakuten materialize`.
"""

import dagster as dg

from rakuten_assets.core.settings import Settings
from rakuten_assets.defs.assets import ingestion, monitoring, training
from rakuten_assets.defs.checks import data_quality, model_quality
from rakuten_assets.defs.jobs import ALL_JOBS
from rakuten_assets.defs.loggers import terminal_logger
from rakuten_assets.defs.resources import project_resources
from rakuten_assets.defs.schedules import build_schedules
from rakuten_assets.defs.sensors import ALL_SENSORS


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([ingestion, training, monitoring]),
        asset_checks=[data_quality, model_quality],
        jobs=ALL_JOBS,
        sensors=ALL_SENSORS,
        schedules=build_schedules(Settings()),
        resources=project_resources(),
        loggers={"terminal": terminal_logger},
        # One process per run: on a 2-core machine, a process per step spends more time importing
        # Dagster, MLflow and scikit-learn and pickling matrices between steps than the steps take.
        # Scale-out swaps this for a run launcher / executor of Dagster's (docs/scaling.md).
        executor=dg.in_process_executor,
    )
