"""Asset checks: the quality gates between training stages."""

import dagster as dg
import pandas as pd

from rakuten_assets.core.training import data_quality_problems
from rakuten_assets.defs.constants import MODEL_EVALUATION, TRAINING_DATASET
from rakuten_assets.defs.resources import SettingsResource
from rakuten_assets.defs.types import ModelEvaluation


@dg.asset_check(asset=TRAINING_DATASET, blocking=True,
                description="No empty titles, only the 27 known codes, every class in train and test.")
def data_quality(training_dataset: pd.DataFrame) -> dg.AssetCheckResult:
    problems = data_quality_problems(training_dataset)
    return dg.AssetCheckResult(passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
                               metadata={"problems": dg.MetadataValue.json(problems),
                                         "rows": len(training_dataset)})


@dg.asset_check(asset=MODEL_EVALUATION,
                description="Weighted F1 on the test split is at least RAKUTEN_F1_FLOOR.")
def model_quality(model_evaluation: ModelEvaluation, project_settings: SettingsResource) -> dg.AssetCheckResult:
    settings = project_settings.load()
    floor = settings.f1_floor
    return dg.AssetCheckResult(passed=model_evaluation.weighted_f1 >= floor,
                               metadata={"weighted_f1": model_evaluation.weighted_f1, "floor": floor})
