"""Behaviour of the drift report on real Rakuten rows (../shared/data/rakuten/; skipped when the
folder is absent) plus a few data-free unit checks.

The set-up is production's: a "champion" fitted on the reference's train rows, its vocabulary
handed to the report, its predictions standing as the logged prdtypecode.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from rakuten_assets.core.drift import (
    ALL_SIGNALS,
    STATUS_DRIFT,
    STATUS_INSUFFICIENT,
    STATUS_OK,
    DriftSettings,
    build_drift_report,
    detect_language,
    distance_above_noise,
    oov_share,
    select_window,
    text_features,
    vocabulary_from_model,
)
from rakuten_assets.core.text import clean_text, join_fields
from tests.support.env import real_data_path

BOOKS = (10, 2280, 2403, 2522, 2705)
SUMMARY_KEYS = {"status", "drift_detected", "drifted_share", "drifted_count", "signals_total",
                "rows_reference", "rows_current", "scores", "drifted", "thresholds", "methods",
                "profile_reference", "profile_current", "notes", "settings"}


# --- real-data world -----------------------------------------------------------------------------
class World:
    def __init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
        from sklearn.svm import LinearSVC

        from rakuten_assets.core.training import split_train_test

        labeled = pd.read_csv(real_data_path("labeled_text.csv"))
        labeled["description"] = labeled["description"].where(labeled["description"].notna(), None)
        missing = labeled["productid"].isna()
        labeled.loc[missing, "productid"] = 10**12 + np.flatnonzero(missing)
        labeled["productid"] = labeled["productid"].astype("int64")
        reference, self.held_out = train_test_split(labeled, train_size=0.6, random_state=0,
                                                    stratify=labeled["prdtypecode"])
        self.reference = split_train_test(reference, test_size=0.3, seed=13)
        train = self.reference[self.reference["split"] == "train"]
        self.model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                                   LinearSVC(C=0.5, class_weight="balanced"))
        self.model.fit(self._texts(train), train["prdtypecode"])
        self.vocabulary = vocabulary_from_model(self.model)

    @staticmethod
    def _texts(frame: pd.DataFrame) -> list[str]:
        return [join_fields(a, b) for a, b in zip(frame["designation"], frame["description"])]

    def logged(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows as the inference log holds them: the champion's prediction as prdtypecode."""
        frame = frame.reset_index(drop=True)
        now = datetime.now(UTC)
        return frame.assign(prdtypecode=self.model.predict(self._texts(frame)), confidence=0.8,
                            created_at=[now - timedelta(seconds=i) for i in range(len(frame))])

    def report(self, window: pd.DataFrame, **settings):
        return build_drift_report(self.reference, window, vocabulary=self.vocabulary,
                                  settings=DriftSettings(**settings))


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def test_in_distribution_traffic_is_not_flagged(world):
    window = world.logged(world.held_out.sample(n=400, random_state=3))
    result = world.report(window)
    assert result.status == STATUS_OK, result.describe()
    assert not result.drift_detected
    assert result.drifted_count <= 1, result.summary()["scores"]
    assert set(result.signals) == set(ALL_SIGNALS)
    assert result.rows_current == 400
    # The reference compared is the champion's held-out split, never the rows it trained on.
    assert result.rows_reference == int((world.reference["split"] == "test").sum())


def test_one_category_family_is_flagged(world):
    books = world.held_out[world.held_out["prdtypecode"].isin(BOOKS)]
    result = world.report(world.logged(books.sample(n=300, random_state=4)))
    assert result.drift_detected, result.summary()["scores"]
    assert result.status == STATUS_DRIFT
    assert result.signals["prdtypecode"].drifted  # predicted classes against training labels
    assert result.signals["text"].drifted


def test_foreign_language_traffic_is_flagged(world):
    texts = world._texts(world.held_out)
    foreign = world.held_out[[detect_language(t, cleaned=True) in ("de", "en") for t in texts]]
    french = world.held_out.drop(foreign.index).sample(n=300 - len(foreign), random_state=5)
    result = world.report(world.logged(pd.concat([foreign, french])))
    assert result.drift_detected, result.summary()["scores"]
    assert result.signals["language"].drifted
    assert result.profile_current["language_mix"]["fr"] < result.profile_reference["language_mix"]["fr"]


def test_below_min_rows_is_insufficient_data_not_drift(world, tmp_path):
    books = world.held_out[world.held_out["prdtypecode"].isin(BOOKS)]
    result = world.report(world.logged(books.head(120)))  # clearly shifted, but too few rows
    assert result.status == STATUS_INSUFFICIENT
    assert result.drift_detected is False
    assert result.drifted_share == 0.0
    assert all(s.score is None and not s.drifted for s in result.signals.values())
    assert "min_rows=200" in " ".join(result.notes)
    html_path, json_path = result.save(tmp_path)
    summary = json.loads(json_path.read_text())
    assert summary["status"] == STATUS_INSUFFICIENT and summary["drift_detected"] is False
    assert "insufficient data" in html_path.read_text()


def test_html_and_json_are_written(world, tmp_path):
    result = world.report(world.logged(world.held_out.sample(n=250, random_state=6)))
    html_path, json_path = result.save(tmp_path / "reports", stem="drift")
    assert html_path == tmp_path / "reports" / "drift.html" and html_path.stat().st_size > 10_000
    assert "<html" in html_path.read_text(encoding="utf-8")[:2000].lower()
    payload = json.loads(json_path.read_text(encoding="utf-8"))
    assert SUMMARY_KEYS <= set(payload)
    assert set(payload["scores"]) == set(ALL_SIGNALS)
    assert payload["rows_current"] == 250
    assert payload["evidently"]["metrics"], "the Evidently metrics travel with the summary"
    assert payload["drift_detected"] == result.drift_detected
    assert payload["scores"] == result.summary()["scores"]
    json.dumps(result.summary())  # JSON-ready as it is, for Dagster metadata


def test_logged_html_scores_as_its_cleaned_form(world):
    """The same preprocessing on both sides: a row logged with HTML and entities in its
    description scores exactly as its cleaned form."""
    raw = world.held_out[world.held_out["description"].fillna("").str.contains("&[a-z]+;|<", regex=True)]
    assert len(raw) >= 5
    cleaned = raw.assign(designation=raw["designation"].map(clean_text),
                         description=raw["description"].map(clean_text))
    a, b = text_features(raw, world.vocabulary), text_features(cleaned, world.vocabulary)
    pd.testing.assert_frame_equal(a, b)
    row = raw.iloc[0]
    assert "&" in row["description"] or "<" in row["description"]
    assert oov_share(join_fields(row["designation"], row["description"]), world.vocabulary) == \
        oov_share(join_fields(clean_text(row["designation"]), clean_text(row["description"])), world.vocabulary)
    # A whole window logged raw or pre-cleaned gives the same report.
    window = world.logged(pd.concat([raw, world.held_out.drop(raw.index).sample(n=200, random_state=7)]))
    window_clean = window.assign(designation=window["designation"].map(clean_text),
                                 description=window["description"].map(clean_text))
    assert world.report(window).summary()["scores"] == world.report(window_clean).summary()["scores"]


# --- data-free units -----------------------------------------------------------------------------
def test_language_detector():
    assert detect_language("Chaussures de randonnée pour homme avec semelle") == "fr"
    assert detect_language("Schlafsack mit Applikation für Kinder und Babys") == "de"
    assert detect_language("Protective silicone cover for the gamepad with stand") == "en"
    assert detect_language("Peluche Donald - Disneyland 2000") == "other"
    assert detect_language("") == "other"


def test_select_window_by_rows_and_hours():
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    log = pd.DataFrame({"designation": [f"t{i}" for i in range(10)],
                        "created_at": [now - timedelta(hours=i) for i in range(10)]})
    newest3 = select_window(log, DriftSettings(window_rows=3, min_rows=1, reference_sample_size=10))
    assert list(newest3["designation"]) == ["t2", "t1", "t0"]  # oldest first
    last4h = select_window(log, DriftSettings(window_rows=None, window_hours=4, min_rows=1,
                                              reference_sample_size=10), now=now)
    assert list(last4h["designation"]) == ["t4", "t3", "t2", "t1", "t0"]


def test_distance_above_noise_is_size_aware():
    rng = np.random.default_rng(0)
    from rakuten_assets.core.drift import _js_from_counts

    def score(shift: float, n_cur: int) -> float:
        ref = rng.choice(27, size=3000)
        probs = np.full(27, (1 - shift) / 27)
        probs[0] += shift
        cur = rng.choice(27, size=n_cur, p=probs)
        return distance_above_noise(_js_from_counts, np.concatenate([ref, cur]), len(ref), 27)

    assert score(0.0, 200) < 0.02 and score(0.0, 2000) < 0.02  # same distribution: below noise
    assert score(0.3, 200) > 0.05 and score(0.3, 2000) > 0.05


def test_vocabulary_from_model_and_settings_validation():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    union = FeatureUnion([("w", TfidfVectorizer(ngram_range=(1, 2))),
                          ("c", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3)))])
    model = make_pipeline(union, LogisticRegression()).fit(["tapis de jeu", "robot piscine"], [1, 2])
    assert vocabulary_from_model(model) == {"tapis", "de", "jeu", "robot", "piscine"}
    with pytest.raises(ValueError):
        vocabulary_from_model(LogisticRegression())
    with pytest.raises(ValueError):
        DriftSettings(drift_share_threshold=0)
