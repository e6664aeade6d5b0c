"""Ingestion attacks of issue 13: a title of tags only, ids outside int64 (1e30, 5e30, a
23-digit id), NUL bytes. Each bad row is rejected with its reason and named by its row; the
good rows of the same file are stored; nothing aborts the file."""

from __future__ import annotations

import pandas as pd
import pytest

from rakuten_assets.core.sources import ingest_files, parse_id, parse_id_column, validate_rows_detailed
from rakuten_assets.core.store import ProductStore
from rakuten_assets.core.training import data_quality_problems


@pytest.fixture
def store(tmp_path):
    return ProductStore(f"sqlite:///{tmp_path / 'p.db'}")


def _write(tmp_path, rows, labels):
    x = pd.DataFrame(rows, columns=["designation", "description", "productid", "imageid"])
    x_path, y_path = tmp_path / "X.csv", tmp_path / "Y.csv"
    x.to_csv(x_path)
    pd.DataFrame({"prdtypecode": labels}).to_csv(y_path)
    return x_path, y_path


def test_poison_rows_are_rejected_one_by_one_and_the_rest_stored(tmp_path, store):
    rows = [
        ("Peluche Donald", "ok", "11", "1"),
        ("<b></b><br/>", "texte", "12", "2"),                 # tags only: no text once cleaned
        ("&nbsp; &amp;nbsp; <i> </i>", None, "13", "3"),      # entities and tags only (variant)
        ("Livre", None, "1e30", "4"),                        # stored as -2**63 before
        ("Livre bis", None, "5e30", "5"),                    # then "already in the store"
        ("Jeu", None, "12345678901234567890123", "6"),       # aborted the whole file before
        ("Jeu", None, "9223372036854775808", "7"),           # 2**63: one past the limit
        ("Console", None, "9223372036854775807", "99999999999999999999999"),  # max id; bad imageid
        ("Piscine", None, "-5", "8"),
        ("Lampe", None, "2.5", "9"),
    ]
    x_path, y_path = _write(tmp_path, rows, [10] * len(rows))
    result = ingest_files(store, x_path, y_path)
    assert result.rejections == {"designation has no text once cleaned": 2, "productid outside int64": 4,
                                 "invalid productid": 2}
    assert result.rows_accepted == 2 and result.rows_accepted + result.rows_rejected == len(rows)
    stored = store.labelled_products().set_index("productid")
    assert sorted(stored.index) == [11, 2**63 - 1]
    by_row = {row: (pid, why) for row, pid, why in result.rejected_rows}
    assert by_row[2] == ("12", "designation has no text once cleaned")
    assert by_row[6] == ("12345678901234567890123", "productid outside int64")
    summary = result.summary()
    assert "row 4 (productid 1e30): productid outside int64" in summary
    # What is stored passes the training's blocking data-quality check on titles.
    assert not any("no title text" in p for p in data_quality_problems(
        store.labelled_products().assign(split="train")))


def test_nul_bytes_are_rejected_not_fatal(tmp_path, store):
    frame = pd.DataFrame({"productid": ["21", "22", "23"], "imageid": ["1", "2", "3"],
                          "designation": ["bon", "mau\x00vais", "ok"],
                          "description": [None, None, "desc\x00"], "prdtypecode": ["10", "10", "40"]})
    rows, rejections, rejected = validate_rows_detailed(frame)
    assert list(rows["productid"]) == [21]
    assert rejections == {"NUL byte in designation": 1, "NUL byte in description": 1}
    assert [(r, why) for r, _, why in rejected] == [(2, "NUL byte in designation"), (3, "NUL byte in description")]


@pytest.mark.parametrize("value, expected", [
    ("42", 42), ("42.0", 42), (" 7 ", 7), ("9223372036854775807", 2**63 - 1), (1_000, 1_000),
    ("9223372036854775808", None), ("1e30", None), ("nan", None), ("inf", None), ("0", None),
    ("", None), (None, None), (float("nan"), None), ("1" * 500, None), ("abc", None),
])
def test_parse_id(value, expected):
    assert parse_id(value) == expected


PARSE_ID_CASES = ["42", "42.0", " 7 ", "9223372036854775807", "9223372036854775808", "999999999999999999",
                  "1e30", "nan", "inf", "0", "000", "-5", "+5", "", None, float("nan"), "1" * 500, "abc",
                  "٣٤", 1_000, 12.0]


@pytest.mark.parametrize("values", [
    pd.Series(PARSE_ID_CASES, dtype=object),
    pd.Series([str(v) for v in PARSE_ID_CASES if v is not None], dtype=object),
    pd.Series([5, 0, -3, 2**63 - 1], dtype="int64", index=[10, 11, 12, 13]),
    pd.Series([5, None, 7], dtype="Int64"),
    pd.Series([1.0, 2.5, float("nan"), 1e30]),
])
def test_parse_id_column_matches_parse_id(values):
    """The whole-column fast paths (integer columns, short digit strings) give parse_id's answer."""
    parsed = parse_id_column(values)
    assert list(parsed.index) == list(values.index)
    assert parsed.tolist() == [parse_id(v) for v in values.tolist()]
