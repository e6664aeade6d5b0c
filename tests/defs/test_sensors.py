"""Sensors evaluated with build_sensor_context on real instance state: new data, and drift that
retrains only on new knowledge (feedback labels), asking for labels otherwise."""

from __future__ import annotations

import json
import time

from dagster import DagsterInstance, RunRequest, build_sensor_context

from tests.support.dagster import run_job, sensor


def _sensor(name):
    return sensor(name)


def _run(instance, job_name, tags=None):
    return run_job(job_name, instance, tags=tags, expect_success=True)


def _evaluate(sensor, instance, cursor=None):
    from rakuten_assets.defs.resources import project_resources

    with build_sensor_context(instance=instance, cursor=cursor, resources=project_resources()) as context:
        return sensor.evaluate_tick(context)


def _requests(tick) -> list[RunRequest]:
    return list(tick.run_requests or [])


def _reset_settings():
    from rakuten_assets.core.settings import get_settings

    get_settings.cache_clear()


def test_new_data_sensor_counts_rows_since_last_training(rakuten_env, monkeypatch):
    monkeypatch.setenv("RAKUTEN_RETRAIN_MIN_NEW_ROWS", "250")
    _reset_settings()
    instance = DagsterInstance.ephemeral()
    sensor = _sensor("new_data_sensor")
    assert not _requests(_evaluate(sensor, instance))  # empty store: nothing to train on

    _run(instance, "ingest_job")  # 1,500 rows, never trained on
    first = _requests(_evaluate(sensor, instance))
    assert len(first) == 1 and first[0].run_key == "new-data-1500"
    assert first[0].tags["rakuten/trigger"] == "new_data"

    _run(instance, "training_job")
    tick = _evaluate(sensor, instance)
    assert not _requests(tick) and "0 new < 250" in tick.skip_message

    _run(instance, "ingest_job")  # +300 rows
    again = _requests(_evaluate(sensor, instance))
    assert [r.run_key for r in again] == ["new-data-1800"]


def _fake_drift_report(instance, drifted: bool, share: float, window_start: str = ""):
    """A drift_report materialisation as the real asset records it (metadata only)."""
    from dagster import AssetMaterialization

    instance.report_runless_asset_event(AssetMaterialization(
        "drift_report", metadata={"drift_detected": drifted, "drifted_share": share,
                                  "window_start": window_start, "champion_version": "1"}))


def _log_predictions(settings, n: int, *, start: int = 0) -> list[str]:
    """n logged predictions (as the API writes them), returning their ids."""
    from datetime import datetime, timezone

    from rakuten_assets.core.store import ProductStore

    now = datetime.now(timezone.utc)
    rows = [{"prediction_id": f"p{start + i:06d}", "created_at": now, "designation": f"Coussin coton {start + i}",
             "description": None, "prdtypecode": 1920, "confidence": 0.4, "model_version": "1",
             "latency_ms": 1.0, "known_word_share": 0.5} for i in range(n)]
    ProductStore(settings.db_url).append_inference_rows(rows)
    return [r["prediction_id"] for r in rows]


def _label(settings, ids: list[str], code: int = 1920) -> None:
    from rakuten_assets.core.feedback import FeedbackItem, record_feedback
    from rakuten_assets.core.store import ProductStore

    record_feedback(ProductStore(settings.db_url), [FeedbackItem(i, code) for i in ids], source="test")


def _open_requests(settings):
    from rakuten_assets.core.feedback import REQUEST_OPEN, labelling_requests
    from rakuten_assets.core.store import ProductStore

    return labelling_requests(ProductStore(settings.db_url), status=REQUEST_OPEN)


def test_drift_without_new_labels_asks_for_labels_then_retrains_once_they_are_in(rakuten_env, monkeypatch):
    from tests.support.models import register_version

    monkeypatch.setenv("RAKUTEN_LABELS_PER_REQUEST", "5")
    _reset_settings()
    register_version(rakuten_env)  # the champion whose traffic drifts
    instance = DagsterInstance.ephemeral()
    sensor = _sensor("drift_sensor")
    tick = _evaluate(sensor, instance)
    assert not _requests(tick) and "no drift_report yet" in tick.skip_message

    _fake_drift_report(instance, drifted=False, share=0.2)
    tick = _evaluate(sensor, instance, tick.cursor)
    assert not _requests(tick) and "no drift" in tick.skip_message and not _open_requests(rakuten_env)

    # Drift, and nothing new to learn from: no retraining, a labelling request instead.
    ids = _log_predictions(rakuten_env, 8)
    _fake_drift_report(instance, drifted=True, share=0.8, window_start="2026-01-01T00:00:00+00:00")
    tick = _evaluate(sensor, instance, tick.cursor)
    assert not _requests(tick) and "labelling request" in tick.skip_message
    (request,) = _open_requests(rakuten_env)
    assert request.labels_needed == 5 and request.labels == 0 and "cannot fix drift" in request.note
    # The same report again, then a new drift report: still one request, still no retraining.
    tick = _evaluate(sensor, instance, tick.cursor)
    assert not _requests(tick) and "already handled" in tick.skip_message
    _fake_drift_report(instance, drifted=True, share=0.9, window_start="2026-01-01T00:00:00+00:00")
    tick = _evaluate(sensor, instance, tick.cursor)
    assert not _requests(tick) and "already open" in tick.skip_message
    assert len(_open_requests(rakuten_env)) == 1

    _label(rakuten_env, ids[:4])
    tick = _evaluate(sensor, instance, tick.cursor)
    assert not _requests(tick) and "4 of 5 labels" in tick.skip_message
    _label(rakuten_env, ids[4:6])  # enough: one retraining, asked for as often as it ticks
    first = _requests(_evaluate(sensor, instance, tick.cursor))
    again = _requests(_evaluate(sensor, instance, tick.cursor))
    assert [r.run_key for r in first] == [r.run_key for r in again] == [f"labels-{request.id}"]
    assert first[0].tags["rakuten/trigger"] == "labels" and first[0].tags["rakuten/labels"] == "6"
    # The retraining's dataset holds the labels: the request is met and closed.
    _run(instance, "ingest_job")  # (the catalogue the labels join: every class, for the data check)
    result = _run(instance, "training_job", tags=first[0].tags)
    mats = {e.event_specific_data.materialization.asset_key.path[-1]: e.event_specific_data.materialization
            for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert mats["training_dataset"].metadata["feedback_rows"].value == 6
    assert mats["training_dataset"].metadata["labelling_requests_met"].value == [request.id]
    assert not _open_requests(rakuten_env)


def test_labels_that_arrive_while_the_champion_trains_are_new_to_it(rakuten_env, monkeypatch):
    """"No new labels since the champion's dataset": labels posted after its snapshot was taken,
    while it trained, are not in it. Counting from its registration would call them learnt and
    ask for labels; they are new, and drift with them retrains."""
    import rakuten_assets.defs.assets.training as training_assets
    from rakuten_assets.core.registry import ModelRegistry
    from rakuten_assets.core.settings import get_settings

    monkeypatch.setenv("RAKUTEN_LABELS_PER_REQUEST", "5")
    _reset_settings()
    instance = DagsterInstance.ephemeral()
    _run(instance, "ingest_job")
    ids = _log_predictions(rakuten_env, 5)
    real_log_model = training_assets.log_model

    def labels_arrive_then_log(*args, **kwargs):  # after the snapshot, before the registration
        _label(rakuten_env, ids)
        return real_log_model(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(training_assets, "log_model", labels_arrive_then_log)
        result = _run(instance, "training_job")
    champion = ModelRegistry(get_settings()).champion()
    assert champion is not None
    snapshot = {e.event_specific_data.materialization.asset_key.path[-1]: e.event_specific_data.materialization
                for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}["training_dataset"]
    assert snapshot.metadata["feedback_rows"].value == 0, "the labels came after the snapshot"

    _fake_drift_report(instance, drifted=True, share=0.8, window_start="2026-01-01T00:00:00+00:00")
    tick = _evaluate(_sensor("drift_sensor"), instance)
    (retrain,) = _requests(tick)
    assert retrain.tags["rakuten/trigger"] == "drift" and retrain.tags["rakuten/new_labels"] == "5"
    assert not _open_requests(rakuten_env)


def test_a_training_run_that_fails_leaves_the_labelling_request_open_until_a_run_decides(rakuten_env,
                                                                                        monkeypatch):
    from datetime import datetime, timezone

    from rakuten_assets.core.feedback import open_labelling_request
    from rakuten_assets.core.store import ProductStore
    from tests.support.dagster import materialisations

    _reset_settings()
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    request_id = open_labelling_request(ProductStore(rakuten_env.db_url), window_start=start,
                                        window_end=start, labels_needed=3, drift_report_id=None,
                                        model_version=None, note="test")
    _label(rakuten_env, _log_predictions(rakuten_env, 3))
    instance = DagsterInstance.ephemeral()
    _run(instance, "ingest_job")  # (the catalogue the labels join: every class, for the data check)
    (retrain,) = _requests(_evaluate(_sensor("drift_sensor"), instance))

    # The run takes its snapshot with the labels, then fails before a model is registered.
    def registry_down(*args, **kwargs):
        raise RuntimeError("model registry unreachable")

    with monkeypatch.context() as patch:
        patch.setattr("rakuten_assets.defs.assets.training.log_model", registry_down)
        failed = run_job("training_job", instance, tags=retrain.tags)
    assert not failed.success
    recorded = materialisations(failed)
    assert recorded["training_dataset"]["labelling_requests_met"] == [request_id]
    assert "promoted_model" not in recorded
    assert [r.id for r in _open_requests(rakuten_env)] == [request_id]
    # The sensor still asks under the same run key: the daemon does not start it twice.
    assert [r.run_key for r in _requests(_evaluate(_sensor("drift_sensor"), instance))] == [retrain.run_key]

    # The next run that gets as far as the rule's decision meets the request, whoever started it.
    decided = materialisations(_run(instance, "training_job"))
    assert decided["promoted_model"]["labelling_requests_closed"] == [request_id]
    assert not _open_requests(rakuten_env)


def test_drift_with_new_labels_retrains_once_per_report_with_a_cooldown(rakuten_env, monkeypatch):
    from tests.support.models import register_version

    monkeypatch.setenv("RAKUTEN_LABELS_PER_REQUEST", "3")
    monkeypatch.setenv("RAKUTEN_DRIFT_COOLDOWN_MINUTES", "30")
    _reset_settings()
    register_version(rakuten_env)
    _label(rakuten_env, _log_predictions(rakuten_env, 3))  # labels since the champion
    instance = DagsterInstance.ephemeral()
    sensor = _sensor("drift_sensor")
    _fake_drift_report(instance, drifted=True, share=0.8)
    tick = _evaluate(sensor, instance)
    requests = _requests(tick)
    assert len(requests) == 1 and requests[0].tags["rakuten/trigger"] == "drift"
    assert requests[0].tags["rakuten/new_labels"] == "3" and not _open_requests(rakuten_env)

    # The same drift event seen again: no second run.
    tick = _evaluate(sensor, instance, tick.cursor)
    assert not _requests(tick) and "already handled" in tick.skip_message
    # A new drift event inside the cool-down: no run either.
    _fake_drift_report(instance, drifted=True, share=0.9)
    tick = _evaluate(sensor, instance, tick.cursor)
    assert not _requests(tick) and "cooling down" in tick.skip_message
    # After the cool-down the next drift event starts a run.
    state = json.loads(tick.cursor)
    state["last_request_at"] = time.time() - 31 * 60
    _fake_drift_report(instance, drifted=True, share=0.9)
    assert len(_requests(_evaluate(sensor, instance, json.dumps(state)))) == 1


def test_labels_are_new_data_the_next_training_learns_from(rakuten_env, monkeypatch):
    """300 labels on 300 new products make the next training dataset 300 rows larger, and
    new_data_sensor counts them."""
    monkeypatch.setenv("RAKUTEN_RETRAIN_MIN_NEW_ROWS", "300")
    _reset_settings()
    instance = DagsterInstance.ephemeral()
    first = _run(instance, "all_assets_job")
    rows = next(e.event_specific_data.materialization.metadata["rows"].value for e in first.all_events
                if e.event_type_value == "ASSET_MATERIALIZATION"
                and e.event_specific_data.materialization.asset_key.path == ["training_dataset"])
    new_data = _sensor("new_data_sensor")
    assert not _requests(_evaluate(new_data, instance))
    ids = _log_predictions(rakuten_env, 300)
    _label(rakuten_env, ids, code=2583)
    (request,) = _requests(_evaluate(new_data, instance))
    assert request.tags["rakuten/new_rows"] == "300"
    second = _run(instance, "training_job", tags=request.tags)
    metadata = next(e.event_specific_data.materialization.metadata for e in second.all_events
                    if e.event_type_value == "ASSET_MATERIALIZATION"
                    and e.event_specific_data.materialization.asset_key.path == ["training_dataset"])
    assert metadata["rows"].value == rows + 300 and metadata["feedback_rows"].value == 300
