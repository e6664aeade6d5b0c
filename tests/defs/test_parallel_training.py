"""`parallel_training_job` on Dagster's multiprocess executor, as the daemon runs it: each step in
a process of its own (forked from a forkserver that preloaded the project), outputs through the
filesystem IO manager, and the same model, checks and promotion as `training_job`."""

from __future__ import annotations

import os

from dagster import DagsterEventType, DagsterInstance, build_reconstructable_job, execute_job

from rakuten_assets.core.registry import ModelRegistry
from tests.support.dagster import run_job


def test_parallel_training_job_runs_each_step_in_its_own_process_and_promotes(rakuten_env, monkeypatch):
    monkeypatch.setenv("RAKUTEN_INITIAL_SHARE", "1.0")
    from rakuten_assets.core.settings import get_settings

    get_settings.cache_clear()
    run_job("ingest_job", expect_success=True)
    job = build_reconstructable_job("rakuten_assets.cli.runs", "job_by_name",
                                    reconstructable_args=("parallel_training_job",))
    with DagsterInstance.get() as instance, execute_job(job, instance=instance, raise_on_error=False) as result:
        failures = [e.message for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
        assert result.success, failures
        starts = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_START]
        checks = {e.event_specific_data.check_name: e.event_specific_data.passed for e in result.all_events
                  if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION}
    pids = {e.pid for e in starts}
    # one process per step, none of them this one
    assert len(pids) == len(starts) > 5 and os.getpid() not in pids
    assert {e.step_key.split("[")[0] for e in starts} >= {"tfidf_features.fit_feature_part",
                                                           "tfidf_features.clean_texts", "trained_model"}
    assert checks and all(checks.values()), checks
    # the first model: promoted by the rule, as training_job would
    assert ModelRegistry(get_settings()).champion() is not None
