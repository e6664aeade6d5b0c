"""The feedback contract: POST /feedback and /feedback/batch, in process (TestClient, lifespan
included), against a real store. A label is stored against its logged prediction and becomes a
labelled product of the store; the API's metrics count it and judge the model on it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.env import project_home
from tests.support.models import register_version

TOKEN = "feedback-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from api.main import create_app

    root = tmp_path_factory.mktemp("api_feedback")
    # A long flush interval: labels arrive before their predictions' log rows are written.
    with project_home(root, RAKUTEN_FEEDBACK_TOKEN=TOKEN, RAKUTEN_INFERENCE_LOG_FLUSH_SECONDS="30",
                      RAKUTEN_LIVE_QUALITY_MIN_LABELS="3") as settings:
        version = register_version(settings)
        with TestClient(create_app(settings)) as client:
            yield client, settings, version


def predict(client, designation="Piscine tubulaire ronde 3 m", description=None) -> dict:
    answer = client.post("/predict", json={"designation": designation, "description": description})
    assert answer.status_code == 200, answer.text
    return answer.json()


def store_of(settings):
    from rakuten_assets.core.store import ProductStore

    return ProductStore(settings.db_url)


def label_row(settings, productid: int):
    from sqlalchemy import text

    with store_of(settings).engine.connect() as conn:
        return conn.execute(text("SELECT l.prdtypecode, b.source FROM labels l JOIN products p ON "
                                 "p.productid = l.productid JOIN load_batches b ON b.id = p.batch_id "
                                 "WHERE l.productid = :p"), {"p": productid}).one()


def test_a_label_is_stored_once_replaced_when_it_changes_and_becomes_training_data(served):
    from rakuten_assets.core.feedback import feedback_productid

    client, settings, version = served
    answer = predict(client, "Lot de 3 figurines Pokémon Pikachu", "<p>Figurines en plastique</p>")
    other = 2583 if answer["prdtypecode"] != 2583 else 1280
    first = client.post("/feedback", json={"prediction_id": answer["prediction_id"],
                                           "prdtypecode": answer["prdtypecode"]}, headers=AUTH)
    assert first.status_code == 201, first.text  # before the log row was flushed: written first
    body = first.json()
    assert body["status"] == "stored" and body["correct"] is True and body["model_version"] == version
    assert body["predicted_prdtypecode"] == answer["prdtypecode"] and body["previous_prdtypecode"] is None

    again = client.post("/feedback", json={"prediction_id": answer["prediction_id"],
                                           "prdtypecode": answer["prdtypecode"]}, headers=AUTH)
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    changed = client.post("/feedback", json={"prediction_id": answer["prediction_id"], "prdtypecode": other},
                          headers=AUTH)
    assert changed.status_code == 200
    assert changed.json()["status"] == "replaced" and changed.json()["previous_prdtypecode"] == answer["prdtypecode"]
    assert changed.json()["correct"] is False

    # One labelled product, from the feedback source, with the latest label; the text it labels.
    productid = feedback_productid(answer["prediction_id"])
    assert tuple(label_row(settings, productid)) == (other, "feedback")
    products = store_of(settings).labelled_products()
    row = products[products["productid"] == productid].iloc[0]
    assert row["designation"] == "Lot de 3 figurines Pokémon Pikachu"


def test_feedback_needs_the_token(served, rakuten_env):
    from api.main import create_app

    client = served[0]
    pid = predict(client)["prediction_id"]
    payload = {"prediction_id": pid, "prdtypecode": 10}
    assert client.post("/feedback", json=payload).status_code == 401
    wrong = client.post("/feedback", json=payload, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["detail"] == "invalid feedback token"
    with TestClient(create_app(rakuten_env)) as disabled:  # no RAKUTEN_FEEDBACK_TOKEN
        refused = disabled.post("/feedback", json=payload, headers=AUTH)
        assert refused.status_code == 403 and "RAKUTEN_FEEDBACK_TOKEN" in refused.json()["detail"]


def test_unknown_prediction_404_unknown_code_422_text_without_words_422(served):
    client = served[0]
    missing = client.post("/feedback", json={"prediction_id": "f" * 32, "prdtypecode": 10}, headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_prediction"
    assert missing.json()["detail"][0]["prediction_id"] == "f" * 32
    pid = predict(client)["prediction_id"]
    code = client.post("/feedback", json={"prediction_id": pid, "prdtypecode": 999}, headers=AUTH)
    assert code.status_code == 422 and "unknown prdtypecode 999" in code.text
    tags_only = predict(client, "<b></b><i></i>")["prediction_id"]
    empty = client.post("/feedback", json={"prediction_id": tags_only, "prdtypecode": 10}, headers=AUTH)
    assert empty.status_code == 422 and empty.json()["error"] == "no_text"
    assert client.post("/feedback", content=b"{not json", headers={**AUTH, "content-type": "application/json"}
                       ).status_code == 422


def test_a_batch_is_stored_whole_or_not_at_all(served):
    client, settings, _ = served
    answers = [predict(client, f"Coussin décoratif coton motif {i}") for i in range(3)]
    items = [{"prediction_id": a["prediction_id"], "prdtypecode": 1920} for a in answers]
    before = store_of(settings).count_products()
    refused = client.post("/feedback/batch", json={"items": items + [{"prediction_id": "e" * 32,
                                                                      "prdtypecode": 1920}]}, headers=AUTH)
    assert refused.status_code == 404 and [d["prediction_id"] for d in refused.json()["detail"]] == ["e" * 32]
    assert store_of(settings).count_products() == before
    accepted = client.post("/feedback/batch", json={"items": items}, headers=AUTH)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["stored"] == 3 and store_of(settings).count_products() == before + 3
    again = client.post("/feedback/batch", json={"items": items}, headers=AUTH).json()
    assert (again["stored"], again["unchanged"]) == (0, 3)
    assert client.post("/feedback/batch", json={"items": []}, headers=AUTH).status_code == 422


def test_labels_are_counted_and_judge_the_model_on_metrics(served):
    client, _, version = served
    for i in range(4):
        answer = predict(client, f"Jeu PS4 FIFA {i}")
        code = answer["prdtypecode"] if i < 3 else (10 if answer["prdtypecode"] != 10 else 40)
        assert client.post("/feedback", json={"prediction_id": answer["prediction_id"], "prdtypecode": code},
                           headers=AUTH).status_code == 201
    text = client.get("/metrics").text
    assert f'rakuten_feedback_total{{correct="true",model_version="{version}"}}' in text
    assert f'rakuten_feedback_total{{correct="false",model_version="{version}"}}' in text
    accuracy = [line for line in text.splitlines() if line.startswith("rakuten_live_accuracy{")]
    assert accuracy and f'model_version="{version}"' in accuracy[0]
    assert 0.0 <= float(accuracy[0].rsplit(" ", 1)[1]) <= 1.0
    assert "rakuten_live_weighted_f1{" in text and "rakuten_labelling_requests_open 0.0" in text
    assert f'rakuten_model_test_accuracy{{model_version="{version}"}}' in text


def test_with_the_store_down_feedback_is_refused_and_nothing_half_kept(served, monkeypatch):
    from api.stores import LazyStore
    from tests.support.services import free_port

    client = served[0]
    pid = predict(client)["prediction_id"]
    down = LazyStore(f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    monkeypatch.setattr(client.app.state, "stores", down)
    answer = client.post("/feedback", json={"prediction_id": pid, "prdtypecode": 10}, headers=AUTH)
    assert answer.status_code == 503 and answer.json()["error"] == "feedback_store_unavailable"
    assert answer.headers["Retry-After"] == "5" and "nobody" not in answer.text


def test_predictions_say_how_much_of_their_text_the_model_knows(served):
    client = served[0]
    known = predict(client, "Piscine tubulaire ronde avec pompe de filtration")
    unknown = predict(client, "日本語のタイトル")
    digits = predict(client, "12345")
    assert 0.5 < known["known_word_share"] <= 1.0
    assert unknown["known_word_share"] == 0.0 and digits["known_word_share"] < 0.5
    batch = client.post("/predict/batch", json={"items": [{"designation": "Piscine tubulaire"},
                                                          {"designation": "😀😀"}]}).json()
    assert [p["known_word_share"] for p in batch["predictions"]][1] == 0.0
    schema = client.get("/openapi.json").json()["components"]["schemas"]["PredictResponse"]
    assert "known_word_share" in schema["properties"] and schema["properties"]["known_word_share"]["description"]
    assert "rakuten_known_word_share_bucket" in client.get("/metrics").text
