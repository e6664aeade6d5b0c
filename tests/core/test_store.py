"""The product store and inference log behave the same on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from rakuten_assets.core.store import ProductStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_database_url")


def _rows(ids, code=10):
    return pd.DataFrame({"productid": ids, "imageid": [1000 + i for i in ids],
                         "designation": [f"Produit {i}" for i in ids],
                         "description": [None if i % 2 else f"<b>desc {i}</b>" for i in ids],
                         "prdtypecode": [code] * len(ids)})


def test_opening_the_store_twice_migrates_once(store_url):
    ProductStore(store_url).dispose()
    store = ProductStore(store_url)
    assert store.count_products() == 0


def test_batch_is_recorded_once_and_products_never_twice(store_url):
    store = ProductStore(store_url)
    first = store.record_batch(batch_key="k1", source="test", rows=_rows([1, 2, 3]), rows_offered=4,
                               rejections={"empty designation": 1})
    assert (first.rows_accepted, first.rows_rejected, first.already_loaded) == (3, 1, False)

    again = store.record_batch(batch_key="k1", source="test", rows=_rows([1, 2, 3]), rows_offered=4,
                               rejections={})
    assert again.already_loaded and again.rows_accepted == 0

    overlapping = store.record_batch(batch_key="k2", source="test", rows=_rows([3, 4]), rows_offered=2,
                                     rejections={})
    assert overlapping.rows_accepted == 1 and overlapping.rows_already_stored == 1
    assert store.count_products() == 4

    batches = store.batches()
    assert list(batches["batch_key"]) == ["k1", "k2"]
    assert batches.loc[0, "rows_rejected"] == 1 and '"empty designation": 1' in batches.loc[0, "rejections_json"]


def test_labelled_products_round_trip(store_url):
    store = ProductStore(store_url)
    store.record_batch(batch_key="k", source="t", rows=_rows([5, 4], code=2583), rows_offered=2, rejections={})
    frame = store.labelled_products()
    assert list(frame["productid"]) == [4, 5]
    assert set(frame["prdtypecode"]) == {2583}
    assert frame.loc[frame["productid"] == 4, "description"].item() == "<b>desc 4</b>"
    assert frame.loc[frame["productid"] == 5, "description"].isna().item()
    assert store.class_distribution().to_dict("records") == [{"prdtypecode": 2583, "rows": 2}]


def test_big_product_ids_fit(store_url):
    store = ProductStore(store_url)
    big = 4_294_967_296 * 2  # beyond 32-bit: real product ids reach 10 digits
    store.record_batch(batch_key="k", source="t", rows=_rows([big]), rows_offered=1, rejections={})
    assert store.labelled_products()["productid"].item() == big


def test_inference_log_window(store_url):
    store = ProductStore(store_url)
    now = datetime.now(timezone.utc)
    rows = [{"prediction_id": f"p{i}", "created_at": now - timedelta(minutes=10 - i),
             "designation": "Livre <script>alert(1)</script> é 🎲", "description": None,
             "prdtypecode": 10, "confidence": 0.5, "model_version": "1", "latency_ms": 3.0}
            for i in range(10)]
    assert store.append_inference_rows(rows) == 10
    assert store.count_inference_rows() == 10
    last = store.read_inference_log(last_rows=3)
    assert list(last["prediction_id"]) == ["p7", "p8", "p9"]  # oldest first within the window
    assert last.loc[0, "designation"] == "Livre <script>alert(1)</script> é 🎲"  # stored as given
    recent = store.read_inference_log(since=now - timedelta(minutes=2, seconds=30))
    assert list(recent["prediction_id"]) == ["p8", "p9"]


def test_inference_rows_are_stored_as_sqlalchemy_stores_them(store_url):
    """The log writer's fast insert (tuples through the driver on SQLite) stores exactly what
    SQLAlchemy's own insert stores: timestamps in its text form, floats, NULLs."""
    from sqlalchemy import text

    from rakuten_assets.core.store import InferenceLog

    now = datetime.now(timezone.utc)
    rows = [{"prediction_id": f"{kind}{i}", "created_at": now - timedelta(seconds=i),
             "designation": "Chaise é", "description": None if i % 2 else "<b>x</b>", "prdtypecode": 10,
             "confidence": 0.25 * i, "model_version": "1", "latency_ms": 3.5,
             "known_word_share": None if i == 1 else 0.5}
            for kind in ("fast", "orm") for i in range(4)]
    store = ProductStore(store_url)
    store.append_inference_rows(rows[:4])
    with store.engine.begin() as conn:
        conn.execute(InferenceLog.__table__.insert(), rows[4:])
        stored = conn.execute(text("SELECT * FROM inference_log ORDER BY prediction_id")).all()
    fast = [tuple(r[1:]) for r in stored if r[0].startswith("fast")]
    orm = [tuple(r[1:]) for r in stored if r[0].startswith("orm")]
    assert len(fast) == 4 and fast == orm


def test_drift_records(store_url):
    store = ProductStore(store_url)
    assert store.latest_drift() is None
    for share, drifted in ((0.1, False), (0.75, True)):
        store.record_drift(status="ok", drift_detected=drifted, drifted_share=share, rows_reference=500,
                           rows_current=400, model_version="3", html_path="/tmp/r.html",
                           summary={"signals": {"title_length": 0.01}})
    latest = store.latest_drift()
    assert latest["drift_detected"] is True and latest["drifted_share"] == 0.75
    assert latest["summary"]["signals"]["title_length"] == 0.01
    history = store.drift_history()
    assert list(history["drifted_share"]) == [0.1, 0.75]


def test_labelled_products_read_in_chunks_is_the_whole_table(store_url):
    store = ProductStore(store_url)
    store.record_batch(batch_key="a", source="t", rows=_rows([9, 3, 7], code=2583), rows_offered=3, rejections={})
    store.record_batch(batch_key="b", source="t", rows=_rows([1, 5], code=10), rows_offered=2, rejections={})
    whole = store.labelled_products(chunk_rows=1_000)
    chunked = store.labelled_products(chunk_rows=2)
    assert list(chunked["productid"]) == [1, 3, 5, 7, 9]
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked["prdtypecode"].dtype == "int64" and chunked["batch_id"].dtype == "int64"


def test_labelled_products_of_an_empty_store_has_the_columns(store_url):
    frame = ProductStore(store_url).labelled_products()
    assert len(frame) == 0
    assert list(frame.columns) == ["productid", "designation", "description", "prdtypecode", "batch_id"]
