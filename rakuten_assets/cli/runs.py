"""Dagster runs from the command line: a job executed in this process on the configured
instance, with a readable summary. The run shows in the Dagster UI like any other."""

from __future__ import annotations

from collections.abc import Callable

# Metadata worth a line in the terminal; everything else stays in the Dagster UI.
_SUMMARY_KEYS = ("batch", "total_products", "dataset_version", "rows", "n_features", "model_version",
                 "weighted_f1", "macro_f1", "champion_weighted_f1_same_test", "decision", "reason")


def _short(value, limit: int = 140) -> str:
    raw = getattr(value, "value", value)
    text = f"{raw:.4f}" if isinstance(raw, float) else str(raw)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def run_job_in_process(job_name: str, echo: Callable[[str], None] = print, *,
                       run_config: dict | None = None, tags: dict[str, str] | None = None) -> bool:
    from dagster import DagsterEventType, DagsterInstance

    from rakuten_assets.definitions import defs
    from rakuten_assets.defs.loggers import FAILURE_PREFIX

    definitions = defs()
    try:
        definitions.resolve_job_def(job_name)  # an unknown name fails here, listed below
    except Exception:  # noqa: BLE001 - an unknown name is a user error, listed below
        names = sorted(j.name for j in definitions.resolve_all_job_defs() if not j.name.startswith("__"))
        echo(f"unknown job {job_name!r}; jobs: {', '.join(names)}")
        return False
    config = dict(run_config or {})
    # One line per event, no stack traces (defs/loggers.py); every event stays in the Dagster UI.
    config.setdefault("loggers", {"terminal": {"config": {"log_level": "INFO"}}})
    from dagster import build_reconstructable_job, execute_job

    # execute_job, not job.execute_in_process: the latter keeps every step's output in memory
    # for its result object until the run ends (at 850k rows the snapshot, the TF-IDF matrices
    # and the model at once). Same in-process executor, outputs through the IO manager.
    reconstructable = build_reconstructable_job(__name__, "job_by_name", reconstructable_args=(job_name,))
    with DagsterInstance.get() as instance, execute_job(reconstructable, instance=instance, raise_on_error=False,
                                                        run_config=config, tags=tags) as result:
        echo(f"Dagster run {result.run_id} ({job_name}): {'SUCCESS' if result.success else 'FAILURE'}")
        for event in result.all_events:
            kind = event.event_type
            if kind == DagsterEventType.ASSET_MATERIALIZATION:
                mat = event.event_specific_data.materialization
                # The batch summary names the rejected rows (at most 10): shown whole.
                details = ", ".join(f"{k}={_short(v, 2000 if k == 'batch' else 140)}"
                                    for k, v in mat.metadata.items() if k in _SUMMARY_KEYS)
                echo(f"  materialised {mat.asset_key.to_user_string()}: {details}")
            elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
                ev = event.event_specific_data
                echo(f"  check {ev.asset_key.to_user_string()}:{ev.check_name}: "
                     f"{'passed' if ev.passed else 'FAILED'}")
            elif kind == DagsterEventType.STEP_FAILURE:
                error = event.event_specific_data.error
                cause = error.cause.message.strip() if error and error.cause else ""
                message = error.message.strip().removeprefix(FAILURE_PREFIX) if error else ""
                echo(f"  step {event.step_key} FAILED: {message} {cause}".rstrip())
        return bool(result.success)


def job_by_name(job_name: str):
    """The job of the project's definitions, rebuilt by name (for `execute_job`)."""
    from rakuten_assets.definitions import defs

    return defs().resolve_job_def(job_name)


def ensure_champion(echo: Callable[[str], None] = print) -> bool:
    """Materialise everything once when no model is promoted yet (a fresh embedded default)."""
    from rakuten_assets.core.registry import ModelRegistry
    from rakuten_assets.core.settings import get_settings

    if ModelRegistry(get_settings()).champion() is not None:
        return True
    echo("no champion model yet: materialising the pipeline once (this takes a minute)")
    return run_job_in_process("all_assets_job", echo=echo)


def report_champion_move(*, before: str | None, after: str, kind: str, actor: str, reason: str) -> None:
    """The move as a materialisation of `promoted_model` in this Dagster instance, so the asset's
    history holds every move of the alias, not only the rule's."""
    from dagster import AssetMaterialization, DagsterInstance

    from rakuten_assets.defs.constants import PROMOTED_MODEL

    with DagsterInstance.get() as instance:
        instance.report_runless_asset_event(AssetMaterialization(
            PROMOTED_MODEL, description=f"champion moved by {actor}",
            metadata={"decision": kind, "reason": reason, "champion_before": before or "none",
                      "champion_after": after, "moved_by": actor}))
