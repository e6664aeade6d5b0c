"""Batch predictions carry the API's known-word share of each row, and the hub says how many rows
the model barely knows, at the threshold of the single prediction's warning (a stand-in API: the
real one is driven by tests/hub/test_clients.py and the browser tests)."""

from __future__ import annotations

import pandas as pd

from gradio_hub.batch import LOW_KNOWN_SHARE, predict_frame, read_upload
from gradio_hub.tabs.predict import known_words_html, preview_frame

# What the stand-in API knows of each title: a share, or None (a model without a word vocabulary).
SHARES = {"Piscine tubulaire ronde": 0.93, "東京タワー 記念 グッズ": 0.0, "12345": 0.2,
          "Lampe à poser": LOW_KNOWN_SHARE, "Coussin": None}


class ShareApi:
    def __init__(self):
        self.calls = 0

    def predict_batch(self, items):
        self.calls += 1
        return {"predictions": [{"prdtypecode": 2583, "category": "Piscine", "confidence": 0.4,
                                 "model_version": "2", "known_word_share": SHARES[i["designation"]]}
                                for i in items]}


def predict(tmp_path, settings, titles):
    upload = tmp_path / "upload.csv"
    pd.DataFrame({"designation": titles, "my_ref": range(len(titles))}).to_csv(upload, index=False)
    return predict_frame(read_upload(upload, max_rows=100), ShareApi(), settings)


def test_each_row_keeps_its_known_word_share_and_the_rows_barely_known_are_counted(tmp_path, rakuten_env):
    outcome = predict(tmp_path, rakuten_env, [*SHARES, ""])
    assert list(outcome.frame["known_word_share"]) == [0.93, 0.0, 0.2, 0.5, None, None]
    # Under the threshold only: exactly at it is not a guess, unknown (None) and not predicted are not counted.
    assert outcome.barely_known == 2
    said = outcome.known_words_warning()
    assert "under 50% of the words of 2 of the 5 predicted rows" in said and "known_word_share" in said
    written = pd.read_csv(outcome.path, dtype=str, keep_default_na=False)
    assert list(written["known_word_share"]) == ["0.93", "0.0", "0.2", "0.5", "", ""]


def test_the_preview_shows_the_known_words_right_after_the_prediction_columns(tmp_path, rakuten_env):
    preview = preview_frame(predict(tmp_path, rakuten_env, ["12345"]).frame)
    assert list(preview.columns) == ["prdtypecode", "category", "confidence", "status", "model_version",
                                     "known_word_share", "designation", "my_ref", "description"]
    assert preview.loc[0, "known_word_share"] == "0.2"


def test_no_warning_when_the_model_knows_every_row_well_enough(tmp_path, rakuten_env):
    outcome = predict(tmp_path, rakuten_env, ["Piscine tubulaire ronde", "Lampe à poser", "Coussin"])
    assert outcome.barely_known == 0 and outcome.known_words_warning() == ""
    one = predict(tmp_path, rakuten_env, ["12345", "Piscine tubulaire ronde"])
    assert "of 1 of the 2 predicted rows " in one.known_words_warning()


def test_the_single_prediction_warns_at_the_same_threshold():
    assert "only 20%" in known_words_html(0.2) and "hub-warn" in known_words_html(0.2)
    assert "hub-warn" not in known_words_html(LOW_KNOWN_SHARE)
