"""The promotion rule, and the one way the serving alias moves.

`decide_promotion` is the written rule the `promoted_model` asset applies; its decision and reason
are tags on the challenger's version, written once and never overwritten. `move_champion` moves
the alias, whoever asks (the rule, a person in the hub or the CLI, a roll back), and records the
move in the store's `champion_moves` table: that table is the audit trail the hub shows, and
`rollback_target` reads it to find the champion before the latest move.
"""

from __future__ import annotations

from dataclasses import dataclass

from rakuten_assets.core.registry import (
    PROMOTION_REASON_TAG,
    PROMOTION_TAG,
    ModelRegistry,
)
from rakuten_assets.core.store import ProductStore

# Who moved the alias: the kinds recorded in `champion_moves.kind`.
MOVE_BY_RULE = "rule"
MOVE_BY_PERSON = "manual"
MOVE_ROLLBACK = "rollback"
MOVE_KINDS = (MOVE_BY_RULE, MOVE_BY_PERSON, MOVE_ROLLBACK)


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    challenger_f1: float
    champion_f1: float | None
    margin: float

    def as_tags(self) -> dict[str, str]:
        return {PROMOTION_TAG: "promoted" if self.promote else "rejected",
                PROMOTION_REASON_TAG: self.reason}


@dataclass(frozen=True)
class LiveEvidence:
    """Both models on the feedback labels of this run's test side: live traffic neither of them
    trained on (the split is a stable hash of the product id)."""

    labels: int
    challenger_accuracy: float
    champion_accuracy: float


def decide_promotion(challenger_f1: float, champion_f1: float | None, margin: float,
                     *, passed_quality_gate: bool = True, f1_floor: float | None = None,
                     champion_unscored: str | None = None, live: LiveEvidence | None = None,
                     min_live_labels: int = 30, test_tolerance: float = 0.01) -> PromotionDecision:
    """The written rule.

    1. Never promote a model that failed the quality gate.
    2. No champion, or one that cannot be scored (`champion_unscored` says why): promote; serving
       a model nobody can evaluate is the riskier side.
    3. With at least `min_live_labels` feedback labels on the test side (`live`): promote when the
       challenger is not worse than the champion on them, beats it by `margin` on them or on the
       test split's weighted F1, and loses at most `test_tolerance` of test weighted F1. Live
       traffic is what production serves; the test split keeps the rest of the catalogue honest.
    4. Otherwise: promote when the challenger beats the champion's weighted F1 on the same test
       rows by at least `margin`."""
    if not passed_quality_gate:
        floor = f"{f1_floor:.4f}" if f1_floor is not None else "the floor"
        return PromotionDecision(False, f"weighted F1 {challenger_f1:.4f} is below the quality floor "
                                 f"{floor}", challenger_f1, champion_f1, margin)
    if champion_f1 is None:
        why = champion_unscored or "no champion yet"
        return PromotionDecision(True, f"{why}; challenger weighted F1 {challenger_f1:.4f}",
                                 challenger_f1, None, margin)
    gain = challenger_f1 - champion_f1
    if live is not None and live.labels >= min_live_labels:
        live_gain = live.challenger_accuracy - live.champion_accuracy
        facts = (f"on {live.labels} feedback labels accuracy {live.challenger_accuracy:.4f} vs "
                 f"{live.champion_accuracy:.4f} ({live_gain:+.4f}); test weighted F1 "
                 f"{challenger_f1:.4f} vs {champion_f1:.4f} ({gain:+.4f})")
        if live_gain < 0:
            return PromotionDecision(False, f"worse on live traffic: {facts}", challenger_f1, champion_f1, margin)
        if -gain > test_tolerance:
            return PromotionDecision(False, f"loses more than {test_tolerance:.4f} test weighted F1: {facts}",
                                     challenger_f1, champion_f1, margin)
        if max(live_gain, gain) >= margin:
            return PromotionDecision(True, f"better by the margin {margin:.4f}: {facts}", challenger_f1,
                                     champion_f1, margin)
        return PromotionDecision(False, f"no gain of the margin {margin:.4f}: {facts}", challenger_f1,
                                 champion_f1, margin)
    if gain >= margin:
        return PromotionDecision(True, f"challenger weighted F1 {challenger_f1:.4f} beats champion "
                                 f"{champion_f1:.4f} by {gain:+.4f} (margin {margin:.4f})",
                                 challenger_f1, champion_f1, margin)
    return PromotionDecision(False, f"challenger weighted F1 {challenger_f1:.4f} vs champion "
                             f"{champion_f1:.4f}: gain {gain:+.4f} is below the margin {margin:.4f}",
                             challenger_f1, champion_f1, margin)


@dataclass(frozen=True)
class ChampionMoveResult:
    from_version: str | None
    to_version: str
    move_id: int


def move_champion(registry: ModelRegistry, store: ProductStore, version: str | int, *, kind: str,
                  actor: str, reason: str) -> ChampionMoveResult:
    """Point the alias at `version` and record the move (time, who, from, to, why). The version's
    own decision tags are left as the rule wrote them."""
    if kind not in MOVE_KINDS:
        raise ValueError(f"unknown kind of champion move {kind!r}; one of {', '.join(MOVE_KINDS)}")
    target = str(version)
    registry.version(target)  # an unknown version fails here, before anything moves
    current = registry.champion()
    before = str(current.version) if current is not None else None
    registry.point_alias(target)
    move_id = store.record_champion_move(model_name=registry.name, alias=registry.alias,
                                         from_version=before, to_version=target, kind=kind,
                                         actor=actor, reason=reason)
    return ChampionMoveResult(before, target, move_id)


def rollback_target(registry: ModelRegistry, store: ProductStore) -> tuple[str | None, str | None]:
    """(current champion, the champion before the latest recorded move); the second is None when
    no move with a previous champion was recorded."""
    current = registry.champion()
    now = str(current.version) if current is not None else None
    moves = store.champion_moves(registry.name, registry.alias, limit=1)
    if moves.empty or moves.iloc[0]["from_version"] is None:
        return now, None
    return now, str(moves.iloc[0]["from_version"])
