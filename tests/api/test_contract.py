"""Contract tests of the serving API, in process (FastAPI TestClient, lifespan included): every
endpoint, every documented error, the inference log, the official-format sample."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.support.env import project_home, real_data_path
from tests.support.models import register_version, small_labelled_frame
from tests.support.services import wait_for

TOKEN = "s3cret-admin-token"
REQUIRED_METRICS = [
    "rakuten_predictions_total", "rakuten_prediction_latency_seconds_bucket",
    "rakuten_text_len_chars_bucket", "rakuten_model_version", "rakuten_model_load_timestamp",
    "rakuten_model_info", "rakuten_api_errors_total", "rakuten_inference_log_buffer_rows",
    "rakuten_inference_log_dropped_rows_total", "rakuten_http_requests_total",
    "rakuten_http_request_duration_seconds_bucket",
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from api.main import create_app

    root = tmp_path_factory.mktemp("api_contract")
    with project_home(root, RAKUTEN_ADMIN_TOKEN=TOKEN) as settings:
        version = register_version(settings)
        app = create_app(settings)
        with TestClient(app) as client:
            yield client, settings, version, app


@pytest.fixture
def client(served):
    return served[0]


def log_rows(settings) -> pd.DataFrame:
    from rakuten_assets.core.store import ProductStore

    store = ProductStore(settings.db_url)
    try:
        return store.read_inference_log()
    finally:
        store.dispose()


def wait_logged(app, settings, prediction_ids: list[str]) -> pd.DataFrame:
    wanted = set(prediction_ids)

    def done():
        frame = log_rows(settings)
        return frame if wanted <= set(frame["prediction_id"]) else None

    return wait_for(done, 30, 0.2, "inference-log rows")


def metric_value(text: str, name: str, labels: str = "") -> float:
    prefix = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- operations endpoints ----------------------------------------------------------------------
def test_health_ready_model(served):
    client, settings, version, _ = served
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["model_version"] == version
    info = client.get("/model").json()
    assert info["name"] == settings.model_name and info["version"] == version
    assert info["alias"] == settings.champion_alias and info["run_id"]
    assert info["n_classes"] == 27 and "test_weighted_f1" in info["metrics"]
    assert info["loaded_at"].endswith("+00:00")
    # The served model says which path it predicts on; the project's model is on the fast one.
    assert info["serving_path"]["path"] == "fast" and info["serving_path"]["fallbacks"] == []
    metrics = client.get("/metrics").text
    assert 'rakuten_model_serving_path{path="fast"} 1.0' in metrics
    assert 'rakuten_model_serving_path{path="sklearn"} 0.0' in metrics


def test_a_model_off_the_fast_path_says_so_on_model_metrics_and_in_the_log(rakuten_env, caplog):
    """A registered pipeline the fast path does not fit (a plain function as text step, an
    uncalibrated classifier) is served by scikit-learn's own steps, and the engine says so."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from api.main import create_app
    from tests.support.models import register_model

    frame = small_labelled_frame(600, seed=4)
    pipeline = Pipeline([("text", FunctionTransformer(_titles)), ("words", TfidfVectorizer()),
                         ("classifier", LogisticRegression(max_iter=200))])
    pipeline.fit(frame[["designation", "description"]], frame["prdtypecode"])
    register_model(rakuten_env, frame, pipeline=pipeline)
    with caplog.at_level("WARNING", logger="api.engine.model_holder"), \
            TestClient(create_app(rakuten_env)) as client:
        path = client.get("/model").json()["serving_path"]
        assert path["path"] == "partial" and not path["text_step"] and not path["fast_classifier"]
        assert len(path["fallbacks"]) == 2
        assert 'rakuten_model_serving_path{path="partial"} 1.0' in client.get("/metrics").text
        assert client.post("/predict", json={"designation": "Jeu PS4"}).status_code == 200
    assert any("without the fast path" in r.getMessage() for r in caplog.records)


def _titles(frame):
    return list(frame["designation"].astype(str))


def test_openapi_documents_every_route(client):
    schema = client.get("/openapi.json").json()
    for path in ("/predict", "/predict/batch", "/health", "/ready", "/model", "/metrics",
                 "/admin/reload"):
        assert path in schema["paths"], path
    request = schema["components"]["schemas"]["PredictRequest"]["properties"]["designation"]
    assert request["maxLength"] == 10_000 and request["minLength"] == 1


# --- predictions ---------------------------------------------------------------------------------
def test_predict_contract(served):
    from rakuten_assets.core.categories import category_name

    client, _, version, _ = served
    r = client.post("/predict", json={"designation": "Lot de 3 figurines Pokémon Pikachu",
                                      "description": "<p>Figurines en plastique</p>"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"prediction_id", "prdtypecode", "category", "confidence", "top_k",
                         "model_version", "known_word_share"}
    assert 0.0 <= body["known_word_share"] <= 1.0
    assert body["model_version"] == version and len(body["prediction_id"]) >= 16
    assert body["category"] == category_name(body["prdtypecode"])
    probs = [e["probability"] for e in body["top_k"]]
    assert len(probs) == 5 and probs == sorted(probs, reverse=True)
    assert body["top_k"][0]["prdtypecode"] == body["prdtypecode"]
    assert body["confidence"] == pytest.approx(probs[0]) and 0 < body["confidence"] <= 1
    assert all(e["category"] == category_name(e["prdtypecode"]) for e in body["top_k"])


@pytest.mark.parametrize("payload", [
    {"designation": "Jeu PS4 FIFA 19"},
    {"designation": "Jeu PS4 FIFA 19", "description": None},
    {"designation": "Jeu PS4 FIFA 19", "description": ""},
    {"designation": "Jeu PS4 FIFA 19", "description": "x", "unknown_field": 3},
])
def test_description_is_optional(client, payload):
    r = client.post("/predict", json=payload)
    assert r.status_code == 200, r.text


def test_batch_in_order_and_vectorised(served):
    client, _, version, _ = served
    frame = small_labelled_frame(40, seed=99)
    items = [{"designation": d, "description": None if pd.isna(s) else s}
             for d, s in zip(frame["designation"], frame["description"])]
    singles = [client.post("/predict", json=it).json()["prdtypecode"] for it in items]
    before = client.get("/metrics").text
    r = client.post("/predict/batch", json={"items": items})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == version
    assert [p["prdtypecode"] for p in body["predictions"]] == singles
    assert len({p["prediction_id"] for p in body["predictions"]}) == 40
    after = client.get("/metrics").text
    # one model call of 40 rows, not 40 calls
    name = "rakuten_predict_batch_size"
    assert metric_value(after, f"{name}_count", 'path="batch"') - \
        metric_value(before, f"{name}_count", 'path="batch"') == 1
    assert metric_value(after, f"{name}_sum", 'path="batch"') - \
        metric_value(before, f"{name}_sum", 'path="batch"') == 40


def test_text_stored_verbatim(served):
    client, settings, _, app = served
    texts = [
        ("<script>alert('x')</script><b>Lampe</b> &amp; déco", "<img src=x onerror=alert(1)>"),
        ("Figurine 🦄🔥 licorne ✨", "Ünïcödé — 日本語 — Ελληνικά\n\ttab"),
        ("'; DROP TABLE inference_log; --", None),
    ]
    ids = []
    for designation, description in texts:
        r = client.post("/predict", json={"designation": designation, "description": description})
        assert r.status_code == 200, r.text
        assert "<script>" not in r.text and "onerror" not in r.text  # input is never echoed
        ids.append(r.json()["prediction_id"])
    frame = wait_logged(app, settings, ids).set_index("prediction_id")
    for pid, (designation, description) in zip(ids, texts):
        row = frame.loc[pid]
        assert row["designation"] == designation
        assert (row["description"] if isinstance(row["description"], str) else None) == description


# --- bad input --------------------------------------------------------------------------------------
LONG = "a" * 10_001


@pytest.mark.parametrize("payload, field", [
    ({}, "designation"),
    ({"description": "only a description"}, "designation"),
    ({"designation": ""}, "designation"),
    ({"designation": "   \n\t "}, "designation"),
    ({"designation": None}, "designation"),
    ({"designation": 123}, "designation"),
    ({"designation": ["a", "b"]}, "designation"),
    ({"designation": {"text": "a"}}, "designation"),
    ({"designation": True}, "designation"),
    ({"designation": LONG}, "designation"),
    ({"designation": "ok", "description": LONG}, "description"),
    ({"designation": "ok", "description": 4.5}, "description"),
    ([{"designation": "a list, not an object"}], None),
    ("just a string", None),
])
def test_invalid_fields_are_422(client, payload, field):
    r = client.post("/predict", json=payload)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "validation_error"
    if field:
        assert any(field in p["loc"] for p in body["detail"])
    assert "Traceback" not in r.text and LONG not in r.text


@pytest.mark.parametrize("raw, status, error", [
    (b'{"designation": "unterminated', 422, "invalid_json"),
    (b"{designation: 'single quotes'}", 422, "invalid_json"),
    (b'{"designation": "caf\xe9 latin-1"}', 400, "invalid_body"),
    (b'\xff\xfe{\x00"\x00', None, None),  # UTF-16 BOM: 400 or 422, never a 500
    (b'{"designation": "\\ud800 lone surrogate"}', 422, "validation_error"),
])
def test_unparseable_bodies(client, raw, status, error):
    r = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    if status is None:
        assert r.status_code in (400, 422) and r.json()["error"] in ("invalid_body", "invalid_json")
        return
    assert r.status_code == status, r.text
    assert r.json()["error"] == error


def test_oversize_body_is_413(served):
    client, settings, _, _ = served
    big = json.dumps({"designation": "x" * (settings.api_max_body_bytes + 10)}).encode()
    r = client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"

    def chunks():  # no Content-Length: the limit is enforced while reading
        for start in range(0, len(big), 256 * 1024):
            yield big[start:start + 256 * 1024]

    r = client.post("/predict/batch", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"


def test_batch_limits(served):
    client, settings, _, _ = served
    item = {"designation": "Coussin déco"}
    too_many = client.post("/predict/batch", json={"items": [item] * (settings.api_max_batch + 1)})
    assert too_many.status_code == 422 and too_many.json()["error"] == "validation_error"
    assert client.post("/predict/batch", json={"items": [item] * settings.api_max_batch}).status_code == 200
    assert client.post("/predict/batch", json={"items": []}).status_code == 422
    assert client.post("/predict/batch", json={"items": item}).status_code == 422
    assert client.post("/predict/batch", json=[item]).status_code == 422
    bad = client.post("/predict/batch", json={"items": [item, {"designation": ""}, item]})
    assert bad.status_code == 422
    assert any(p["loc"][:3] == ["body", "items", "1"] for p in bad.json()["detail"])


def test_unknown_route_and_method(client):
    assert client.get("/nope").status_code == 404
    assert client.get("/predict").status_code == 405
    assert client.get("/nope").json()["error"] == "not_found"


# --- admin --------------------------------------------------------------------------------------------
def test_admin_requires_the_token(served):
    client, _, version, _ = served
    missing = client.post("/admin/reload")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert client.post("/admin/reload", headers={"Authorization": "Basic abc"}).status_code == 401
    wrong = client.post("/admin/reload", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["error"] == "forbidden"
    ok = client.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"changed": False, "previous_version": version, "version": version,
                         "error": None}


def test_admin_disabled_without_token(served):
    from api.main import create_app

    settings = served[1].model_copy(update={"admin_token": None})
    client = TestClient(create_app(settings))  # no lifespan needed: auth fails first
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
        r = client.post("/admin/reload", headers=headers)
        assert r.status_code == 403
        assert "disabled" in r.json()["detail"] and "RAKUTEN_ADMIN_TOKEN" in r.json()["detail"]


# --- no model -----------------------------------------------------------------------------------------
def test_no_champion_means_503_with_reason(served):
    from api.main import create_app

    settings = served[1].model_copy(update={"model_name": "no_such_model"})
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "no_such_model" in ready.json()["reason"] and "champion" in ready.json()["reason"]
        r = client.post("/predict", json={"designation": "Jeu PS4"})
        assert r.status_code == 503 and r.json()["error"] == "model_unavailable"
        assert "no_such_model" in r.json()["detail"]
        assert client.post("/predict/batch", json={"items": [{"designation": "x"}]}).status_code == 503
        assert client.get("/model").status_code == 503
        assert metric_value(client.get("/metrics").text, "rakuten_model_version") == 0


# --- metrics and the inference log --------------------------------------------------------------------
def test_metrics_exposed(client):
    client.post("/predict", json={"designation": "Jeu PS4"})
    client.post("/predict", json={"designation": ""})
    text = client.get("/metrics").text
    for name in REQUIRED_METRICS:
        assert name in text, name
    assert 'rakuten_model_info{alias="champion",name="rakuten_classifier"' in text
    assert metric_value(text, "rakuten_api_errors_total", 'error_type="validation_error"') >= 1
    assert 'route="/predict",status="200"' in text and 'route="/predict",status="422"' in text


def test_every_prediction_is_logged_and_shutdown_flushes(served, tmp_path):
    """A fresh app on its own database: rows written == predictions served, once the app
    has shut down (the lifespan flushes what is still buffered)."""
    from api.main import create_app

    settings, version = served[1], served[2]
    settings = settings.model_copy(update={
        "database_url": f"sqlite:///{tmp_path / 'log.db'}",
        "inference_log_flush_seconds": 30.0})  # no timed flush: only the shutdown one
    with TestClient(create_app(settings)) as client:
        for i in range(50):
            assert client.post("/predict", json={"designation": f"article {i}"}).status_code == 200
        r = client.post("/predict/batch", json={"items": [{"designation": f"lot {i}"} for i in range(30)]})
        assert r.status_code == 200
        client.post("/predict", json={"designation": ""})  # rejected: not logged
    new = log_rows(settings)
    assert len(new) == 80
    assert (new["model_version"] == version).all()
    assert (new["latency_ms"] > 0).all() and new["confidence"].between(0, 1).all()


def test_official_sample_end_to_end(served):
    client, _, version, _ = served
    frame = pd.read_csv(real_data_path("X_test_sample.csv"), index_col=0)
    items = [{"designation": d, "description": None if pd.isna(s) else s}
             for d, s in zip(frame["designation"], frame["description"])]
    predictions = []
    for start in range(0, len(items), 256):
        r = client.post("/predict/batch", json={"items": items[start:start + 256]})
        assert r.status_code == 200, r.text
        predictions += r.json()["predictions"]
    assert len(predictions) == len(frame)
    from rakuten_assets.core.categories import CODES

    assert {p["prdtypecode"] for p in predictions} <= set(CODES)
    assert all(np.isfinite(p["confidence"]) for p in predictions)
