"""The written promotion rule, both ways, and the registry operations it drives."""

from __future__ import annotations

import pytest

from rakuten_assets.registry import PROMOTION_REASON_TAG, PROMOTION_TAG, decide_promotion


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


def test_registry_moves_the_alias_and_keeps_the_reason(rakuten_env):
    from rakuten_assets.registry import ModelRegistry
    from tests.conftest import register_model, small_labelled_frame

    registry = ModelRegistry(rakuten_env)
    assert registry.champion() is None and registry.versions() == []
    frame = small_labelled_frame(1200)
    first = register_model(rakuten_env, frame)
    second = register_model(rakuten_env, frame, alias=False)
    assert str(registry.champion().version) == first
    registry.set_champion(second, reason="manual roll forward")
    champion = registry.champion()
    assert str(champion.version) == second
    assert champion.tags[PROMOTION_REASON_TAG] == "manual roll forward"
    assert [str(v.version) for v in registry.versions()] == [second, first]


def test_unscorable_champion_is_replaced_by_a_gated_challenger():
    decision = decide_promotion(0.8, None, 0.01, champion_unscored="champion v3 could not be scored: gone")
    assert decision.promote and "could not be scored" in decision.reason
    assert not decide_promotion(0.5, None, 0.01, passed_quality_gate=False,
                                champion_unscored="champion v3 could not be scored").promote
