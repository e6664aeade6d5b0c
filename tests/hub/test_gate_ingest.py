"""One ingestion at a time, whatever launched the other one (issue 13: two "one at a time"
ingests ran at once): the hub refuses to launch ingest_job while an ingesting run is unfinished
in Dagster."""

from __future__ import annotations

from gradio_hub.clients.dagster import RunInfo
from gradio_hub.ingest import ingest


class FakeDagster:
    def __init__(self, runs):
        self._runs = runs
        self.launched: list[dict] = []

    def runs(self, limit: int = 15):
        return self._runs

    def ingest(self, *, tags, x_path=None, y_path=None):
        self.launched.append(tags)
        return "newrun00"

    def wait(self, run_id, timeout_s):
        return RunInfo(run_id, "ingest_job", "SUCCESS", None, None, None, [])

    def materializations(self, run_id):
        return {"products": {"batch": "batch b: 10 rows offered, 10 stored", "total_products": 10}}


def test_a_second_ingestion_is_refused_while_one_runs(rakuten_env):
    running = RunInfo("abcdef123456", "ingest_job", "STARTED", None, None, None, [])
    dagster = FakeDagster([running])
    outcome = ingest(dagster, rakuten_env, actor="alice")
    assert not outcome.ok and "already running" in outcome.message and "abcdef12" in outcome.message
    assert dagster.launched == []
    # Variant: the whole pipeline (all_assets_job) ingests too.
    dagster = FakeDagster([RunInfo("fedcba654321", "all_assets_job", "QUEUED", None, None, None, [])])
    assert not ingest(dagster, rakuten_env, actor="alice").ok and dagster.launched == []


def test_ingestion_goes_ahead_once_the_other_run_finished(rakuten_env):
    done = RunInfo("abcdef123456", "ingest_job", "SUCCESS", None, None, None, [])
    training = RunInfo("0123456789ab", "training_job", "STARTED", None, None, None, [])
    dagster = FakeDagster([done, training])
    outcome = ingest(dagster, rakuten_env, actor="alice")
    assert outcome.ok and len(dagster.launched) == 1
