"""The written promotion rule, both ways, and the one way the alias moves: `move_champion`, which
records every move, and roll back, which returns to the champion before the latest move."""

from __future__ import annotations

import pytest

from rakuten_assets.core.promotion import (
    MOVE_BY_PERSON,
    MOVE_BY_RULE,
    MOVE_ROLLBACK,
    LiveEvidence,
    decide_promotion,
    move_champion,
    rollback_target,
)
from rakuten_assets.core.registry import PROMOTION_REASON_TAG, PROMOTION_TAG


def test_no_champion_promotes():
    decision = decide_promotion(0.71, None, margin=0.01)
    assert decision.promote and "no champion" in decision.reason


def test_better_by_margin_promotes():
    decision = decide_promotion(0.80, 0.78, margin=0.01)
    assert decision.promote and "+0.0200" in decision.reason


@pytest.mark.parametrize("challenger", [0.785, 0.78, 0.70])
def test_not_better_by_margin_is_rejected(challenger):
    decision = decide_promotion(challenger, 0.78, margin=0.01)
    assert not decision.promote and "below the margin" in decision.reason


def test_exactly_the_margin_promotes():
    assert decide_promotion(0.79, 0.78, margin=0.0).promote


def test_failed_quality_gate_never_promotes_even_without_champion():
    decision = decide_promotion(0.5, None, margin=0.0, passed_quality_gate=False, f1_floor=0.6)
    assert not decision.promote and "below the quality floor 0.6000" in decision.reason


def test_decision_tags():
    assert decide_promotion(0.9, None, 0.0).as_tags()[PROMOTION_TAG] == "promoted"
    rejected = decide_promotion(0.5, 0.9, 0.0).as_tags()
    assert rejected[PROMOTION_TAG] == "rejected" and rejected[PROMOTION_REASON_TAG]


def _registry_and_store(settings):
    from rakuten_assets.core.registry import ModelRegistry
    from rakuten_assets.core.store import ProductStore

    return ModelRegistry(settings), ProductStore(settings.db_url)


def _two_versions(settings):
    from tests.support.models import fitted_pipeline, register_model

    frame, pipeline = fitted_pipeline()
    first = register_model(settings, frame, alias=False, pipeline=pipeline)
    second = register_model(settings, frame, alias=False, pipeline=pipeline)
    return first, second


def test_every_move_is_recorded_once_and_keeps_the_rules_decision(rakuten_env):
    registry, store = _registry_and_store(rakuten_env)
    assert registry.champion() is None and registry.versions() == []
    first, second = _two_versions(rakuten_env)
    # The rule promotes the first and rejects the second, tagging its decision on each.
    registry.set_version_tags(first, decide_promotion(0.8, None, 0.01).as_tags())
    move_champion(registry, store, first, kind=MOVE_BY_RULE, actor="dagster run 1", reason="rule says so")
    registry.set_version_tags(second, decide_promotion(0.7, 0.8, 0.01).as_tags())

    # A person overrides the rule: the alias moves, the second version's own decision stays.
    moved = move_champion(registry, store, second, kind=MOVE_BY_PERSON, actor="alice", reason="try it")
    assert (moved.from_version, moved.to_version) == (first, second)
    assert str(registry.champion().version) == second
    tags = registry.version(second).tags
    assert tags[PROMOTION_TAG] == "rejected" and "below the margin" in tags[PROMOTION_REASON_TAG]
    assert registry.version(first).tags[PROMOTION_TAG] == "promoted"

    moves = store.champion_moves(registry.name, registry.alias)
    assert list(moves["kind"]) == [MOVE_BY_PERSON, MOVE_BY_RULE]  # newest first, one row each
    assert list(moves["actor"]) == ["alice", "dagster run 1"]
    assert list(moves["from_version"].fillna("none")) == [first, "none"]
    assert moves.iloc[0]["reason"] == "try it" and moves["moved_at"].notna().all()


def test_roll_back_returns_to_the_champion_before_the_latest_move_whoever_made_it(rakuten_env):
    registry, store = _registry_and_store(rakuten_env)
    first, second = _two_versions(rakuten_env)
    assert rollback_target(registry, store) == (None, None)
    move_champion(registry, store, second, kind=MOVE_BY_RULE, actor="rule", reason="first champion")
    assert rollback_target(registry, store) == (second, None)  # no earlier champion to go back to
    # Promoting v1 over v2 by hand: roll back returns to v2 (the case that said "nothing to roll back to").
    move_champion(registry, store, first, kind=MOVE_BY_PERSON, actor="bob", reason="older is safer")
    assert rollback_target(registry, store) == (first, second)
    current, target = rollback_target(registry, store)
    move_champion(registry, store, target, kind=MOVE_ROLLBACK, actor="carol", reason="back")
    assert str(registry.champion().version) == second
    assert rollback_target(registry, store) == (second, first)


def test_an_unknown_version_moves_nothing_and_records_nothing(rakuten_env):
    from mlflow.exceptions import MlflowException

    registry, store = _registry_and_store(rakuten_env)
    first, _ = _two_versions(rakuten_env)
    move_champion(registry, store, first, kind=MOVE_BY_RULE, actor="rule", reason="r")
    with pytest.raises(MlflowException):
        move_champion(registry, store, "99", kind=MOVE_BY_PERSON, actor="x", reason="nope")
    with pytest.raises(ValueError, match="unknown kind"):
        move_champion(registry, store, first, kind="whim", actor="x", reason="nope")
    assert str(registry.champion().version) == first
    assert len(store.champion_moves(registry.name, registry.alias)) == 1


def test_unscorable_champion_is_replaced_by_a_gated_challenger():
    decision = decide_promotion(0.8, None, 0.01, champion_unscored="champion v3 could not be scored: gone")
    assert decision.promote and "could not be scored" in decision.reason
    assert not decide_promotion(0.5, None, 0.01, passed_quality_gate=False,
                                champion_unscored="champion v3 could not be scored").promote


# --- with feedback labels on the test side: live traffic neither model trained on ---------------
def test_too_few_live_labels_are_ignored_and_the_test_split_decides():
    # 29 labels say the challenger is far worse: below the threshold, the test gain promotes.
    decision = decide_promotion(0.80, 0.78, 0.01, live=LiveEvidence(29, 0.10, 0.90), min_live_labels=30)
    assert decision.promote and "feedback" not in decision.reason and "+0.0200" in decision.reason
    # ...and 29 labels saying it is far better do not rescue a test split without gain.
    decision = decide_promotion(0.78, 0.78, 0.01, live=LiveEvidence(29, 0.90, 0.10), min_live_labels=30)
    assert not decision.promote and "below the margin" in decision.reason


def test_worse_on_live_labels_is_rejected_even_when_the_test_split_gains():
    decision = decide_promotion(0.85, 0.78, 0.01, live=LiveEvidence(30, 0.69, 0.70), min_live_labels=30)
    assert not decision.promote
    assert decision.reason.startswith("worse on live traffic") and "on 30 feedback labels" in decision.reason
    assert "-0.0100" in decision.reason  # the live loss, as measured


def test_better_on_live_labels_but_losing_test_f1_past_the_tolerance_is_rejected():
    decision = decide_promotion(0.76, 0.78, 0.01, live=LiveEvidence(200, 0.90, 0.60), test_tolerance=0.01)
    assert not decision.promote
    assert "loses more than 0.0100 test weighted F1" in decision.reason and "-0.0200" in decision.reason
    # Within the tolerance the live gain carries it.
    assert decide_promotion(0.775, 0.78, 0.01, live=LiveEvidence(200, 0.90, 0.60), test_tolerance=0.01).promote


def test_no_gain_of_the_margin_on_either_live_labels_or_test_split_is_rejected():
    decision = decide_promotion(0.782, 0.78, 0.01, live=LiveEvidence(200, 0.705, 0.70))
    assert not decision.promote and decision.reason.startswith("no gain of the margin 0.0100")


def test_better_on_live_labels_promotes_with_a_reason_naming_the_feedback_labels():
    # The test split alone would reject (no gain); the live labels decide.
    decision = decide_promotion(0.78, 0.78, 0.01, live=LiveEvidence(198, 0.75, 0.60))
    assert decision.promote and not decide_promotion(0.78, 0.78, 0.01).promote
    assert decision.reason.startswith("better by the margin 0.0100")
    assert "on 198 feedback labels accuracy 0.7500 vs 0.6000 (+0.1500)" in decision.reason
    assert (decision.challenger_f1, decision.champion_f1) == (0.78, 0.78)


def test_equal_on_live_labels_and_better_on_the_test_split_promotes():
    decision = decide_promotion(0.80, 0.78, 0.01, live=LiveEvidence(100, 0.70, 0.70))
    assert decision.promote and "feedback labels" in decision.reason and "(+0.0200)" in decision.reason
