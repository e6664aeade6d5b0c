"""Ground truth in the store, on SQLite and PostgreSQL: labels against logged predictions, what they
say about each model version, the review queue's order, labelling requests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from rakuten_assets.core.feedback import (
    FEEDBACK_ID_BASE, FEEDBACK_SOURCE, REQUEST_OPEN, FeedbackItem, FeedbackRefused,
    close_labelling_request, count_labels, feedback_productid, labelling_requests, live_quality,
    open_labelling_request, parse_label_rows, record_feedback, review_queue,
)
from rakuten_assets.core.store import ProductStore

NOW = datetime.now(timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_database_url"))
    store = ProductStore(url)
    yield store
    store.dispose()


def log(store, pid: str, *, code=2583, confidence=0.9, known=1.0, version="1", when=NOW, title=None):
    store.append_inference_rows([{"prediction_id": pid, "created_at": when, "designation": title or f"Piscine {pid}",
                                  "description": None, "prdtypecode": code, "confidence": confidence,
                                  "model_version": version, "latency_ms": 1.0, "known_word_share": known}])


def test_a_label_is_one_product_of_the_feedback_source_and_replacing_it_keeps_one(store):
    log(store, "a1")
    (first,) = record_feedback(store, [FeedbackItem("a1", 2583)], source="api")
    assert first.status == "stored" and first.correct and first.productid >= FEEDBACK_ID_BASE
    assert first.productid == feedback_productid("a1")
    (again,) = record_feedback(store, [FeedbackItem("a1", 2583)], source="api")
    (changed,) = record_feedback(store, [FeedbackItem("a1", 1560)], source="hub")
    assert again.status == "unchanged" and changed.status == "replaced"
    assert changed.previous_prdtypecode == 2583 and not changed.correct
    products = store.labelled_products()
    assert len(products) == 1 and products.iloc[0]["prdtypecode"] == 1560
    batches = store.batches()
    assert list(batches["source"]) == [FEEDBACK_SOURCE] and batches.iloc[0]["rows_accepted"] == 1
    assert count_labels(store) == 1


def test_refusals_store_nothing(store):
    log(store, "b1")
    log(store, "b2", title="<b> </b>")
    with pytest.raises(FeedbackRefused) as unknown:
        record_feedback(store, [FeedbackItem("b1", 10), FeedbackItem("nope", 10)], source="api")
    assert unknown.value.kind == "unknown_prediction" and list(unknown.value.problems) == ["nope"]
    with pytest.raises(FeedbackRefused) as code:
        record_feedback(store, [FeedbackItem("b1", 999)], source="api")
    assert code.value.kind == "unknown_code"
    with pytest.raises(FeedbackRefused) as empty:
        record_feedback(store, [FeedbackItem("b2", 10)], source="api")
    assert empty.value.kind == "no_text"
    assert store.count_products() == 0 and count_labels(store) == 0


def test_live_quality_per_model_version(store):
    for i in range(4):
        log(store, f"v1-{i}", code=2583, version="1")
        log(store, f"v2-{i}", code=2583, version="2")
    record_feedback(store, [FeedbackItem(f"v1-{i}", 2583 if i < 1 else 1560) for i in range(4)], source="api")
    record_feedback(store, [FeedbackItem(f"v2-{i}", 2583 if i < 3 else 1560) for i in range(4)], source="api")
    quality = {q.model_version: q for q in live_quality(store)}
    assert quality["1"].labels == 4 and quality["1"].accuracy == pytest.approx(0.25)
    assert quality["2"].accuracy == pytest.approx(0.75) and 0 <= quality["2"].weighted_f1 <= 1
    assert live_quality(store, since=NOW + timedelta(hours=1)) == []


def test_review_queue_puts_unknown_uncertain_drifted_traffic_first(store):
    old = NOW - timedelta(hours=3)
    log(store, "sure", confidence=0.95, known=1.0, when=old)
    log(store, "unsure", confidence=0.2, known=1.0, when=old)
    log(store, "unknown-words", confidence=0.6, known=0.0, when=old)
    log(store, "drifted", confidence=0.6, known=0.9, when=NOW)
    log(store, "labelled", confidence=0.1, known=0.0, when=NOW)
    record_feedback(store, [FeedbackItem("labelled", 2583)], source="api")
    assert list(review_queue(store)["prediction_id"]) == ["unknown-words", "unsure", "drifted", "sure"]
    request = open_labelling_request(store, window_start=NOW - timedelta(minutes=5), window_end=NOW,
                                     labels_needed=2, drift_report_id=None, model_version="1", note="test")
    queue = review_queue(store)  # traffic of the drifted window moves up
    assert list(queue["prediction_id"]) == ["unknown-words", "drifted", "unsure", "sure"]
    assert list(queue["in_drifted_window"]) == [False, True, False, False]

    (info,) = labelling_requests(store, status=REQUEST_OPEN)
    assert info.id == request and info.labels == 1 and not info.satisfied  # "labelled" is in the window
    record_feedback(store, [FeedbackItem("drifted", 1560)], source="api")
    assert labelling_requests(store, status=REQUEST_OPEN)[0].satisfied
    close_labelling_request(store, request)
    assert labelling_requests(store, status=REQUEST_OPEN) == []


def test_imported_rows_are_checked_one_by_one():
    items, problems = parse_label_rows([{"prediction_id": "x", "prdtypecode": "2583"},
                                        {"prediction_id": "", "prdtypecode": "10"},
                                        {"prediction_id": "y", "prdtypecode": "=1+1"},
                                        {"prediction_id": "z", "prdtypecode": "999"}])
    assert items == [FeedbackItem("x", 2583)]
    assert problems == {2: "no valid prediction_id", 3: "prdtypecode not a number", 4: "unknown prdtypecode"}
