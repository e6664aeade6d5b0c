"""Official-format loading, synthetic batches and every bad-input case: rejected rows are
counted with a reason, accepted rows are stored, nothing is inserted twice."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from rakuten_assets.core.sources import (
    OfficialCsvSource,
    SourceError,
    SyntheticSource,
    batch_bounds,
    ingest_files,
    ingest_next,
    read_official_files,
)
from rakuten_assets.core.store import ProductStore
from tests.support.env import real_data_path


@pytest.fixture
def store(tmp_path):
    return ProductStore(f"sqlite:///{tmp_path / 'p.db'}")


def _write_official(tmp_path, rows, labels, *, x_columns=("designation", "description", "productid", "imageid")):
    x = pd.DataFrame(rows, columns=list(x_columns))
    y = pd.DataFrame({"prdtypecode": labels})
    x_path, y_path = tmp_path / "X.csv", tmp_path / "Y.csv"
    x.to_csv(x_path)  # unnamed index column, as in the official files
    y.to_csv(y_path)
    return x_path, y_path


def test_official_sample_loads_exactly(tmp_path, store):
    x_path, y_path = real_data_path("X_train_sample.csv"), real_data_path("Y_train_sample.csv")
    result = ingest_files(store, x_path, y_path)
    assert result.rows_offered == 201 and result.rows_accepted == 201 and result.rejections == {}
    frame = store.labelled_products()
    raw_x = pd.read_csv(x_path, index_col=0)
    raw_y = pd.read_csv(y_path, index_col=0)
    expected = raw_x.join(raw_y).set_index("productid").sort_index()
    got = frame.set_index("productid").sort_index()
    assert (got["prdtypecode"] == expected["prdtypecode"]).all()
    assert (got["designation"] == expected["designation"]).all()
    # HTML descriptions are stored as given, empty ones as NULL.
    assert got["description"].isna().sum() == expected["description"].isna().sum()
    assert got["description"].dropna().str.contains("<br").any()
    assert ingest_files(store, x_path, y_path).already_loaded


def test_bad_rows_are_rejected_with_reasons_and_good_rows_kept(tmp_path, store):
    rows = [
        ("Peluche Donald", "", 11, 1),          # ok, empty description
        ("", "texte", 12, 2),                  # empty designation
        ("   ", None, 13, 3),                  # blank designation
        ("Livre", "<p>ok</p>", 14, 4),          # unknown code below
        ("Jeu", None, 15, 5),                  # duplicate id (twice)
        ("Jeu bis", None, 15, 6),
        ("Sans id", None, "abc", 7),           # invalid product id
        ("Console", None, 16, 8),              # missing label
        ("Piscine", "<b>spa</b>", 17, 9),       # ok
    ]
    labels = [10, 10, 10, 9999, 40, 40, 40, None, 2583]
    x_path, y_path = _write_official(tmp_path, rows, labels)
    result = ingest_files(store, x_path, y_path)
    assert result.rows_offered == 9
    assert result.rows_accepted == 2
    assert result.rejections == {"empty designation": 2, "unknown prdtypecode": 1,
                                 "duplicate productid": 2, "invalid productid": 1, "missing label": 1}
    assert result.rows_accepted + result.rows_rejected == result.rows_offered
    assert sorted(store.labelled_products()["productid"]) == [11, 17]
    assert "2 empty designation" in result.summary()


def test_missing_columns_is_a_clear_error(tmp_path):
    x_path, y_path = _write_official(tmp_path, [("a", 1, 2)], [10], x_columns=("designation", "productid", "imageid"))
    with pytest.raises(SourceError, match="lacks column\\(s\\) description"):
        read_official_files(x_path, y_path)


def test_label_file_without_prdtypecode(tmp_path):
    x_path, _ = _write_official(tmp_path, [("a", "", 1, 2)], [10])
    bad_y = tmp_path / "bad_y.csv"
    bad_y.write_text(",label\n0,10\n")
    with pytest.raises(SourceError, match="prdtypecode"):
        read_official_files(x_path, bad_y)


def test_malformed_lines_are_counted_and_the_rest_loaded(tmp_path, store):
    x_path, y_path = _write_official(tmp_path, [("Titre un", "", 21, 1), ("Titre deux", "", 22, 2)], [10, 40])
    with x_path.open("a") as f:
        f.write('2,"Titre trois",,23,3,extra,fields\n')
    result = ingest_files(store, x_path, y_path)
    assert result.rejections.get("malformed CSV line") == 1
    assert result.rows_accepted == 2


@pytest.mark.parametrize("content,match", [
    (b"", "not a readable CSV"),
    (b"\xff\xfe\x00bad bytes\x00\n\x81\x82", "not UTF-8"),
])
def test_unreadable_files_are_clear_errors(tmp_path, content, match):
    path = tmp_path / "X.csv"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=match):
        read_official_files(path, None)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        read_official_files(tmp_path / "nope.csv", None)


def test_orphan_labels_are_reported(tmp_path, store):
    x_path, y_path = _write_official(tmp_path, [("Titre", "", 31, 1)], [10, 40])
    result = ingest_files(store, x_path, y_path)
    assert result.rejections == {"label without product": 1}
    assert result.rows_accepted == 1


def test_batch_bounds_cover_the_source_once():
    bounds = [batch_bounds(1000, i, 0.5, 0.1) for i in range(8)]
    assert bounds[:7] == [(0, 500), (500, 600), (600, 700), (700, 800), (800, 900), (900, 1000), (1000, 1000)]


def test_synthetic_batches_arrive_over_time(rakuten_env, tmp_path):
    store = ProductStore(rakuten_env.db_url)
    source = SyntheticSource(1000, seed=3)
    first = ingest_next(store, source, rakuten_env)
    assert first.rows_accepted == round(1000 * rakuten_env.initial_share)
    second = ingest_next(store, source, rakuten_env)
    assert second.rows_accepted == round(1000 * rakuten_env.batch_share)
    assert store.count_products() == first.rows_accepted + second.rows_accepted
    while ingest_next(store, source, rakuten_env) is not None:
        pass
    assert store.count_products() == 1000
    assert ingest_next(store, source, rakuten_env) is None


def test_official_source_in_data_dir_batches(rakuten_env, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(real_data_path("X_train_sample.csv"), data / "X_train_update.csv")
    shutil.copy(real_data_path("Y_train_sample.csv"), data / "Y_train_CVw08PX.csv")
    source = OfficialCsvSource(data / "X_train_update.csv", data / "Y_train_CVw08PX.csv")
    store = ProductStore(rakuten_env.db_url)
    result = ingest_next(store, source, rakuten_env)
    assert result.rows_accepted == round(201 * rakuten_env.initial_share)
