"""Running the project's Dagster jobs in-process in tests, and reading what they recorded."""

from __future__ import annotations

import functools

from dagster import DagsterEventType, DagsterInstance


@functools.lru_cache(maxsize=1)
def definitions():
    from rakuten_assets.definitions import defs

    return defs()


def run_job(job_name: str, instance: DagsterInstance | None = None, *, tags=None, run_config=None,
            expect_success: bool = False):
    instance = instance or DagsterInstance.ephemeral()
    result = definitions().resolve_job_def(job_name).execute_in_process(
        instance=instance, tags=tags, run_config=run_config, raise_on_error=False)
    if expect_success:
        assert result.success, f"{job_name} failed"
    return result


def sensor(name: str):
    return definitions().resolve_sensor_def(name)


def materialisations(result) -> dict[str, dict]:
    """Asset key -> its metadata (plain values), for every materialisation of a run."""
    out = {}
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.event_specific_data.materialization
            out[mat.asset_key.to_user_string()] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return out


def checks(result) -> dict[str, bool]:
    return {ev.event_specific_data.check_name: ev.event_specific_data.passed
            for ev in result.all_events if ev.event_type == DagsterEventType.ASSET_CHECK_EVALUATION}
