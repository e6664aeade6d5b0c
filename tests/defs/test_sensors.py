"""Sensors evaluated with build_sensor_context on real instance state, and the closed loop:
trained model -> shifted traffic through the API -> drift report says drift -> drift_sensor asks
for a run -> the run promotes a better model -> the API serves it."""

from __future__ import annotations

import json
import time

from dagster import DagsterInstance, RunRequest, build_sensor_context

from rakuten_assets.core.registry import ModelRegistry
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


def _fake_drift_report(instance, drifted: bool, share: float):
    """A drift_report materialisation as the real asset records it (metadata only)."""
    from dagster import AssetMaterialization

    instance.report_runless_asset_event(AssetMaterialization(
        "drift_report", metadata={"drift_detected": drifted, "drifted_share": share}))


def test_drift_sensor_one_run_per_event_and_cooldown(rakuten_env, monkeypatch):
    monkeypatch.setenv("RAKUTEN_DRIFT_COOLDOWN_MINUTES", "30")
    _reset_settings()
    instance = DagsterInstance.ephemeral()
    sensor = _sensor("drift_sensor")
    tick = _evaluate(sensor, instance)
    assert not _requests(tick) and "no drift_report yet" in tick.skip_message

    _fake_drift_report(instance, drifted=False, share=0.2)
    tick = _evaluate(sensor, instance)
    assert not _requests(tick)
    cursor = tick.cursor

    _fake_drift_report(instance, drifted=True, share=0.8)
    tick = _evaluate(sensor, instance, cursor)
    requests = _requests(tick)
    assert len(requests) == 1 and requests[0].tags["rakuten/trigger"] == "drift"
    cursor = tick.cursor

    # The same drift event seen again: no second run.
    tick = _evaluate(sensor, instance, cursor)
    assert not _requests(tick) and "already handled" in tick.skip_message

    # A new drift event inside the cool-down: no run either.
    _fake_drift_report(instance, drifted=True, share=0.9)
    tick = _evaluate(sensor, instance, cursor)
    assert not _requests(tick) and "cooling down" in tick.skip_message

    # After the cool-down the next drift event starts a run.
    state = json.loads(tick.cursor)
    state["last_request_at"] = time.time() - 31 * 60
    _fake_drift_report(instance, drifted=True, share=0.9)
    assert len(_requests(_evaluate(sensor, instance, json.dumps(state)))) == 1


def test_closed_loop_drift_retrains_promotes_and_the_api_serves_it(rakuten_env, monkeypatch):
    """The whole loop, with real components: Dagster (in-process, one instance), MLflow, the
    FastAPI app, Evidently. The first champion is trained on a small first batch, so the
    retraining on the full store is better and promoted by the rule."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from rakuten_assets.core.settings import get_settings
    from rakuten_assets.core.store import ProductStore
    from rakuten_assets.core.synthetic import drifted_catalogue

    monkeypatch.setenv("RAKUTEN_INITIAL_SHARE", "0.3")
    monkeypatch.setenv("RAKUTEN_BATCH_SHARE", "0.7")
    monkeypatch.setenv("RAKUTEN_ADMIN_TOKEN", "loop-token")
    monkeypatch.setenv("RAKUTEN_DRIFT_MIN_ROWS", "200")
    monkeypatch.setenv("RAKUTEN_DRIFT_COOLDOWN_MINUTES", "0")
    _reset_settings()
    settings = get_settings()
    instance = DagsterInstance.ephemeral()
    registry = ModelRegistry(settings)

    _run(instance, "all_assets_job")  # 900 rows: a first, modest champion
    first = str(registry.champion().version)
    _run(instance, "ingest_job")  # the rest of the catalogue arrives, labelled

    admin = {"Authorization": "Bearer loop-token"}
    with TestClient(create_app(settings)) as client:
        assert client.get("/ready").status_code == 200
        assert client.get("/model").json()["version"] == first

        # Shifted traffic: German-language products, as a new marketplace would send.
        traffic = drifted_catalogue(400, seed=5, kind="german")
        items = [{"designation": r.designation, "description": r.description}
                 for r in traffic.itertuples()]
        for start in range(0, len(items), 100):
            response = client.post("/predict/batch", json={"items": items[start:start + 100]})
            assert response.status_code == 200
        store = ProductStore(settings.db_url)
        deadline = time.time() + 30
        while store.count_inference_rows() < len(items) and time.time() < deadline:
            time.sleep(0.2)
        assert store.count_inference_rows() == len(items)

        drift = _run(instance, "drift_job")
        report = next(e.event_specific_data.materialization for e in drift.all_events
                      if e.event_type_value == "ASSET_MATERIALIZATION")
        assert report.metadata["drift_detected"].value is True, report.metadata["scores"].value
        assert store.latest_drift()["drift_detected"] is True

        tick = _evaluate(_sensor("drift_sensor"), instance)
        requests = _requests(tick)
        assert len(requests) == 1
        retrain = _run(instance, "training_job", tags=requests[0].tags)
        decision = next(e.event_specific_data.materialization for e in retrain.all_events
                        if e.event_type_value == "ASSET_MATERIALIZATION"
                        and e.event_specific_data.materialization.asset_key.path == ["promoted_model"])
        assert decision.metadata["decision"].value == "promoted", decision.metadata["reason"].value
        second = str(registry.champion().version)
        assert second != first

        reload = client.post("/admin/reload", headers=admin)
        assert reload.status_code == 200
        assert client.get("/model").json()["version"] == second
        answer = client.post("/predict", json={"designation": "Piscine hors sol tubulaire", "description": None})
        assert answer.status_code == 200 and answer.json()["model_version"] == second
