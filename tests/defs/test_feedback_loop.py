"""The loop closed by ground truth, with real components: Dagster (in-process, one instance),
MLflow, the FastAPI app, Evidently, the store.

A champion trained on the synthetic catalogue serves traffic of a kind it never saw (German
products, or real rows of the challenge); the drift report says drift; drift_sensor does not
retrain on unchanged data but opens a labelling request; labels arrive through POST /feedback;
the sensor asks for a retraining; the rule promotes the challenger on the live labels it has not
trained on; the API serves it, and it is right more often on fresh traffic of the new kind."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from dagster import DagsterInstance
from fastapi.testclient import TestClient

from rakuten_assets.core.registry import ModelRegistry
from tests.support.dagster import materialisations, run_job, sensor
from tests.support.env import real_data_path

TOKEN = "loop-feedback-token"
# Traffic served, of which LABELLED rows get a label and the last FRESH are never labelled. The
# feedback rows' train/test side is a hash of their random prediction id, so with a few hundred
# labels the challenger was judged on ~50 of them and a one-label difference could decide (CI saw
# 0.6981 vs 0.6981, "no gain"). With 1,500 labels ~300 are on the test side; six runs gained
# +0.11 to +0.16 accuracy on them.
SEEN, LABELLED, FRESH = 2000, 1500, 500


def _evaluate(drift_sensor, instance, cursor=None):
    from dagster import build_sensor_context

    from rakuten_assets.defs.resources import project_resources

    with build_sensor_context(instance=instance, cursor=cursor, resources=project_resources()) as context:
        return drift_sensor.evaluate_tick(context)


def german_traffic() -> pd.DataFrame:
    from rakuten_assets.core.synthetic import drifted_catalogue

    return drifted_catalogue(SEEN + FRESH, seed=5, kind="german")


def real_traffic() -> pd.DataFrame:
    frame = pd.read_csv(real_data_path("labeled_text.csv"))
    frame["description"] = frame["description"].where(frame["description"].notna(), None)
    return frame.sample(SEEN + FRESH, random_state=3).reset_index(drop=True)


@pytest.mark.parametrize("traffic_of", [german_traffic, real_traffic], ids=["german", "real_rows"])
def test_drift_asks_for_labels_and_the_labels_make_the_champion_right(rakuten_env, monkeypatch, traffic_of):
    from api.main import create_app
    from rakuten_assets.core.feedback import REQUEST_OPEN, labelling_requests
    from rakuten_assets.core.settings import get_settings
    from rakuten_assets.core.store import ProductStore

    traffic = traffic_of()  # first, so a missing data folder skips before any work
    monkeypatch.setenv("RAKUTEN_INITIAL_SHARE", "1.0")
    monkeypatch.setenv("RAKUTEN_FEEDBACK_TOKEN", TOKEN)
    monkeypatch.setenv("RAKUTEN_ADMIN_TOKEN", "loop-admin")
    monkeypatch.setenv("RAKUTEN_LABELS_PER_REQUEST", str(LABELLED))
    monkeypatch.setenv("RAKUTEN_DRIFT_WINDOW_ROWS", str(SEEN))  # the request counts labels of its window
    monkeypatch.setenv("RAKUTEN_DRIFT_COOLDOWN_MINUTES", "0")
    monkeypatch.setenv("RAKUTEN_LIVE_QUALITY_MIN_LABELS", "50")
    get_settings.cache_clear()
    settings = get_settings()
    instance = DagsterInstance.ephemeral()
    registry = ModelRegistry(settings)
    store = ProductStore(settings.db_url)
    run_job("all_assets_job", instance, expect_success=True)  # the champion: synthetic catalogue
    first = str(registry.champion().version)
    items = [{"designation": r.designation, "description": r.description} for r in traffic.itertuples()]
    seen, labelled, fresh = items[:SEEN], traffic.iloc[:LABELLED], items[SEEN:]

    with TestClient(create_app(settings)) as client:
        def predict_all(batch):
            answers = []
            for start in range(0, len(batch), 200):
                response = client.post("/predict/batch", json={"items": batch[start:start + 200]})
                assert response.status_code == 200, response.text
                answers += response.json()["predictions"]
            return answers

        def accuracy(answers, truth) -> float:
            return float((pd.Series([a["prdtypecode"] for a in answers]) == truth.to_numpy()).mean())

        answers = predict_all(seen)
        assert all(a["model_version"] == first for a in answers)
        deadline = time.time() + 30
        while store.count_inference_rows() < len(seen) and time.time() < deadline:
            time.sleep(0.2)

        # Drift, and no labels: a labelling request, no retraining.
        drift = materialisations(run_job("drift_job", instance, expect_success=True))["drift_report"]
        assert drift["drift_detected"] is True, drift["scores"]
        drift_sensor = sensor("drift_sensor")
        tick = _evaluate(drift_sensor, instance)
        assert not tick.run_requests and "labelling request" in tick.skip_message
        (request,) = labelling_requests(store, status=REQUEST_OPEN)

        # Labels for the drifted traffic, through the API's feedback endpoint.
        feedback = [{"prediction_id": a["prediction_id"], "prdtypecode": int(code)}
                    for a, code in zip(answers[:LABELLED], labelled["prdtypecode"])]
        for start in range(0, len(feedback), 1000):
            posted = client.post("/feedback/batch", json={"items": feedback[start:start + 1000]},
                                 headers={"Authorization": f"Bearer {TOKEN}"})
            assert posted.status_code == 200, posted.text
            assert posted.json()["stored"] == len(feedback[start:start + 1000]), posted.text
        # Fresh traffic of the new kind (never labelled), as the first champion answers it.
        truth = traffic["prdtypecode"].iloc[SEEN:]
        before = accuracy(predict_all(fresh), truth)

        # Enough labels: the sensor asks for the retraining, which promotes on the live labels.
        tick = _evaluate(drift_sensor, instance, tick.cursor)
        (retrain,) = tick.run_requests
        assert retrain.run_key == f"labels-{request.id}"
        result = run_job("training_job", instance, tags=retrain.tags, expect_success=True)
        mats = materialisations(result)
        assert mats["training_dataset"]["feedback_rows"] == LABELLED
        assert mats["model_evaluation"]["feedback_labels_in_test"] >= 150
        decision = mats["promoted_model"]
        print("promotion:", decision["reason"])
        assert decision["decision"] == "promoted", decision["reason"]
        assert "feedback labels" in decision["reason"]
        assert isinstance(decision["champion_agreement_recent_traffic"], float)
        second = str(registry.champion().version)
        assert second != first and not labelling_requests(store, status=REQUEST_OPEN)
        assert "champion_agreement" in registry.version(second).tags

        # The API serves the new champion, and it is right more often on fresh traffic of the new kind.
        assert client.post("/admin/reload", headers={"Authorization": "Bearer loop-admin"}).status_code == 200
        assert client.get("/model").json()["version"] == second
        new_answers = predict_all(fresh)
        assert all(a["model_version"] == second for a in new_answers)
        after = accuracy(new_answers, truth)
        assert after > before, (before, after)
