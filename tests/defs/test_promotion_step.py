"""The `promoted_model` step, run by Dagster on a given evaluation: beside the rule's decision
(tests/core/test_promotion.py), what the pipeline records, the agreement with the champion on
recent traffic among it."""

from __future__ import annotations

from rakuten_assets.core.registry import AGREEMENT_TAG, PROMOTION_REASON_TAG, PROMOTION_TAG


def _promotion_step(challenger: str, evaluation):
    """The `promoted_model` asset run by Dagster on a given evaluation (its upstream assets
    stubbed): what the pipeline records beside the rule's decision."""
    import dagster as dg

    from rakuten_assets.defs.assets.training import promoted_model
    from rakuten_assets.defs.constants import MODEL_EVALUATION, TRAINED_MODEL
    from rakuten_assets.defs.resources import project_resources
    from rakuten_assets.defs.types import TrainedModel

    @dg.asset(key=TRAINED_MODEL)
    def trained():
        return TrainedModel(pipeline=None, version=challenger, run_id="", dataset_version="stub")

    @dg.asset(key=MODEL_EVALUATION)
    def evaluated():
        return evaluation

    result = dg.materialize([trained, evaluated, promoted_model], resources=project_resources(),
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    (mat,) = [m for m in result.asset_materializations_for_node("promoted_model")]
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def test_the_promotion_step_decides_on_live_labels_and_records_the_agreement_with_the_champion(rakuten_env):
    from rakuten_assets.core.registry import ModelRegistry
    from rakuten_assets.defs.types import ModelEvaluation
    from tests.support.models import register_version

    registry = ModelRegistry(rakuten_env)
    first, second = register_version(rakuten_env, alias=False), register_version(rakuten_env, alias=False)
    registry.point_alias(first)
    evaluation = ModelEvaluation(
        weighted_f1=0.78, macro_f1=0.7, accuracy=0.8, per_class_f1={}, champion_version=first,
        champion_weighted_f1=0.78, champion_note="scored on the same test rows", confusion_matrix="",
        feedback_labels=198, feedback_accuracy=0.75, champion_feedback_accuracy=0.60,
        agreement=0.8125, agreement_rows=2000)
    recorded = _promotion_step(second, evaluation)
    assert recorded["decision"] == "promoted" and "on 198 feedback labels" in recorded["reason"]
    assert (recorded["champion_before"], recorded["champion_after"]) == (first, second)
    assert recorded["champion_agreement_recent_traffic"] == 0.8125
    tags = registry.version(second).tags
    assert tags[PROMOTION_TAG] == "promoted" and "feedback labels" in tags[PROMOTION_REASON_TAG]
    assert tags[AGREEMENT_TAG] == "0.8125 on 2000 recent predictions"
