"""The hub promotes only evaluated versions (issue 13: Promote accepted a version that was never
evaluated): the client refuses the move, and the Promote list does not offer it."""

from __future__ import annotations

import pandas as pd
import pytest

from gradio_hub.clients.registry import RegistryReader
from gradio_hub.clients.store import StoreReader
from gradio_hub.common import ServiceError
from rakuten_assets.core.promotion import MOVE_BY_PERSON, MOVE_ROLLBACK
from tests.support.models import fitted_pipeline, register_version


def _register_unevaluated(settings) -> str:
    """A version logged the way an outsider could: the model, no evaluation metrics."""
    import mlflow

    from rakuten_assets.core.registry import ensure_experiment
    from rakuten_assets.core.training import TEXT_COLUMNS, log_model

    frame, pipeline = fitted_pipeline()
    with mlflow.start_run(experiment_id=ensure_experiment(settings)):
        info = log_model(pipeline, registered_model_name=settings.model_name,
                         input_example=frame[TEXT_COLUMNS].head(2))
    return str(info.registered_model_version)


def test_promote_refuses_an_unevaluated_version(rakuten_env):
    evaluated = register_version(rakuten_env)  # champion, evaluated
    bare = _register_unevaluated(rakuten_env)
    registry = RegistryReader(rakuten_env, StoreReader(rakuten_env))
    with pytest.raises(ServiceError, match="has no evaluation"):
        registry.move_champion(bare, kind=MOVE_BY_PERSON, actor="alice", reason="the attack")
    assert registry.rollback_target()[0] == evaluated  # the alias did not move
    # The Promote list (the "weighted F1" column it is built from) has no value for it.
    versions = registry.versions().set_index("version")
    assert pd.isna(versions.loc[int(bare), "weighted F1"])
    assert not pd.isna(versions.loc[int(evaluated), "weighted F1"])
    # Variant: an evaluated version is promoted as before, and a roll-back is not blocked.
    second = register_version(rakuten_env, alias=False)
    moved = registry.move_champion(second, kind=MOVE_BY_PERSON, actor="alice", reason="evaluated")
    assert moved.to_version == second
    back = registry.move_champion(evaluated, kind=MOVE_ROLLBACK, actor="alice", reason="back")
    assert back.to_version == evaluated
