"""Behaviour of `build_classifier()` on real labelled rows (skipped without the shared data)."""

from __future__ import annotations

import pickle

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from rakuten_assets.core.categories import CODES
from rakuten_assets.core.model import (
    SHAPES,
    SHAPES_WEIGHT,
    CalibrationHoldout,
    CharWbTfidf,
    WordShapeTfidf,
    build_classifier,
    describe_classifier,
    word_shape,
)
from rakuten_assets.core.text import join_fields
from tests.support.env import real_data_path

COLUMNS = ["designation", "description"]


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return pd.read_csv(real_data_path("labeled_text.csv")).head(1000)


@pytest.fixture(scope="module")
def fitted(rows) -> Pipeline:
    return build_classifier().fit(rows[COLUMNS], rows["prdtypecode"])


@pytest.fixture(scope="module")
def probe(rows) -> pd.DataFrame:
    """Rows with a real HTML description (the first 201 are raw) plus merged-text rows."""
    with_html = rows[rows["description"].notna()].head(20)
    return pd.concat([with_html, rows.tail(20)])[COLUMNS].reset_index(drop=True)


def test_unfitted_pipeline_has_the_three_named_steps():
    pipeline = build_classifier()
    assert [name for name, _ in pipeline.steps] == ["text", "features", "classifier"]
    assert isinstance(pipeline.named_steps["features"], FeatureUnion)
    assert not hasattr(pipeline.named_steps["classifier"], "classes_")
    assert build_classifier(features__chars__max_features=123).get_params()["features__chars__max_features"] == 123
    params = describe_classifier(pipeline)
    assert params and all(isinstance(v, (str, int, float)) for v in params.values())
    assert {"features__words__ngram_range", "features__chars__ngram_range",
            "features__shapes__ngram_range"} <= set(params)


def test_predictions_are_known_codes_and_probabilities(fitted, rows, probe):
    predicted = fitted.predict(probe)
    assert {int(c) for c in predicted} <= set(CODES)
    proba = fitted.predict_proba(probe)
    assert proba.shape == (len(probe), len(fitted.classes_)) == (len(probe), rows["prdtypecode"].nunique())
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert np.issubdtype(np.asarray(fitted.classes_).dtype, np.integer)
    np.testing.assert_array_equal(fitted.classes_[proba.argmax(axis=1)], predicted)
    # it learned something: most training rows come back with their own label
    assert (fitted.predict(rows[COLUMNS]) == rows["prdtypecode"]).mean() > 0.8


def test_accepts_missing_description_column_none_nan_and_extra_columns(fitted, probe):
    titles = probe[["designation"]]
    expected = fitted.predict_proba(titles.assign(description=""))
    np.testing.assert_allclose(fitted.predict_proba(titles), expected)
    np.testing.assert_allclose(fitted.predict_proba(titles.assign(description=None)), expected)
    np.testing.assert_allclose(fitted.predict_proba(titles.assign(description=np.nan)), expected)
    extra = probe.assign(productid=1, imageid="x", prdtypecode=10)[["productid", "description", "imageid",
                                                                     "designation", "prdtypecode"]]
    np.testing.assert_allclose(fitted.predict_proba(extra), fitted.predict_proba(probe))


def test_html_and_entities_predict_like_their_clean_text(fitted):
    raw = pd.DataFrame({
        "designation": ["Piscine Tubulaire Ronde &amp; B&acirc;che", "<b>Figurine</b> Pok&eacute;mon Pikachu"],
        "description": ["<p>Pompe de filtration<br/>incluse &amp;eacute; <span>3,66 x 0,76 m</span></p>", None],
    })
    clean = pd.DataFrame({"designation": ["piscine tubulaire ronde & bache", "figurine pokemon pikachu"],
                          "description": ["pompe de filtration incluse e 3,66 x 0,76 m", None]})
    assert fitted.named_steps["text"].transform(raw) == fitted.named_steps["text"].transform(clean)
    np.testing.assert_array_equal(fitted.predict(raw), fitted.predict(clean))
    np.testing.assert_allclose(fitted.predict_proba(raw), fitted.predict_proba(clean))


@pytest.mark.parametrize("module", [pickle, cloudpickle], ids=["pickle", "cloudpickle"])
def test_round_trip_keeps_probabilities(fitted, probe, module):
    loaded = module.loads(module.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict_proba(probe), fitted.predict_proba(probe))
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)


def test_fitting_the_steps_separately_equals_fitting_the_pipeline(fitted, rows, probe):
    template = build_classifier()
    text, features, classifier = (template.named_steps[k] for k in ("text", "features", "classifier"))
    features, classifier = clone(features), clone(classifier)
    classifier.fit(features.fit_transform(text.transform(rows[COLUMNS])), rows["prdtypecode"].to_numpy())
    separate = Pipeline([("text", text), ("features", features), ("classifier", classifier)])
    np.testing.assert_array_equal(separate.predict(probe), fitted.predict(probe))
    np.testing.assert_allclose(separate.predict_proba(probe), fitted.predict_proba(probe))


def test_char_wb_tfidf_equals_sklearns_char_wb(rows):
    docs = [join_fields(a, b) for a, b in zip(rows["designation"], rows["description"])]
    awkward = ["", " ", "a", "a  b\tc\nd", "xx " * 50, "mot inconnu zzqx", "日本語 🦄", "l'ete, 3x5cm!"]
    for params in ({"ngram_range": (2, 5), "min_df": 2, "max_df": 0.1, "sublinear_tf": True},
                   {"ngram_range": (1, 3), "min_df": 1, "max_df": 1.0, "sublinear_tf": True},
                   {"ngram_range": (3, 4), "min_df": 3, "max_df": 0.5, "sublinear_tf": False}):
        ours = CharWbTfidf(**params).fit(docs)
        theirs = TfidfVectorizer(analyzer="char_wb", lowercase=False, dtype=np.float32, **params).fit(docs)
        assert ours.vocabulary_ == theirs.vocabulary_
        np.testing.assert_allclose(ours.idf_, theirs.idf_, rtol=1e-6)
        for batch in (docs[:300], awkward):
            assert abs(ours.transform(batch) - theirs.transform(batch)).max() < 1e-6
        assert abs(ours.fit_transform(docs) - theirs.transform(docs)).max() < 1e-6


def test_word_shapes_keep_a_texts_layout_and_drop_its_letters_and_digits(rows):
    assert [word_shape(w) for w in ("28/09/2001", "45x45", "n°133", "l'ecole", "lot", "2", "-", "ps4")] == \
        ["9/9/9", "9a9", "a°9", "a'a", "a", "9", "-", "a9"]
    union = build_classifier().named_steps["features"]
    assert isinstance(dict(union.transformer_list)[SHAPES], WordShapeTfidf)
    assert union.transformer_weights == {SHAPES: SHAPES_WEIGHT}
    # the API counts a text chunk by chunk: a text's shape tokens are its chunks' one after the other
    docs = [join_fields(a, b) for a, b in zip(rows["designation"], rows["description"])]
    tokenize = WordShapeTfidf().build_tokenizer()
    for doc in docs[:300] + ["", " a  b\tc ", "日本語 🦄 3x5cm!"]:
        assert tokenize(doc) == [t for chunk in doc.split() for t in tokenize(chunk)]
    # it is a plain TfidfVectorizer otherwise: what scikit-learn gives on the shapes themselves
    ours = WordShapeTfidf().fit(docs)
    shaped = [" ".join(word_shape(w) for w in d.split()) for d in docs]
    theirs = TfidfVectorizer(ngram_range=(1, 3), min_df=2, max_df=0.5, sublinear_tf=True, lowercase=False,
                             token_pattern=r"\S+", dtype=np.float32).fit(shaped)
    assert ours.vocabulary_ == theirs.vocabulary_ and len(ours.vocabulary_) > 100
    assert abs(ours.transform(docs[:200]) - theirs.transform(shaped[:200])).max() < 1e-6
    assert clone(ours).get_params() == WordShapeTfidf().get_params()


def test_calibration_holdout_keeps_every_class_in_training():
    y = np.array([1] * 50 + [2] * 5 + [3] * 2 + [4])
    (train, test), = CalibrationHoldout(test_size=0.1, random_state=0).split(np.zeros(len(y)), y)
    assert set(y[train]) == {1, 2, 3, 4}
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(y)))
    assert len(test) == 5 + 1 + 1  # 10% of 50, and at least one row of each class that has two


def test_softmax_linear_ensemble_is_one_linear_model_whose_calibration_keeps_the_ranking():
    """The blend of a hinge SVM and a logistic SGD is served as one linear model; its
    temperature changes confidences, never the predicted class; a class with a single row
    (too small for the out-of-fold split) is still learnt."""
    from scipy.special import softmax
    from sklearn.linear_model import SGDClassifier
    from sklearn.svm import LinearSVC

    from rakuten_assets.core.model import SoftmaxLinearEnsemble

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 20)) * 3
    y = np.repeat([10, 20, 30, 40], [60, 60, 60, 1])
    X = centres[np.searchsorted([10, 20, 30, 40], y)] + rng.normal(size=(y.size, 20))
    svm, sgd = LinearSVC(C=0.2, random_state=0), SGDClassifier(loss="log_loss", random_state=0)
    model = SoftmaxLinearEnsemble([("svm", svm), ("sgd", sgd)], cv=3).fit(X, y)
    np.testing.assert_array_equal(model.classes_, [10, 20, 30, 40])
    assert model.temperature_ > 0 and model.scales_.shape == (2,)
    members = [clone(m).fit(X, y) for m in (svm, sgd)]
    blend = sum(w * m.decision_function(X) for w, m in zip(model.scales_, members))
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, softmax(blend / model.temperature_, axis=1), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(X), model.classes_[blend.argmax(axis=1)])
    assert model.predict(centres[3:4])[0] == 40
    # calibrated on separable data: confident where right, not a uniform 1/4
    assert proba.max(axis=1).mean() > 0.8


def test_the_settings_offer_exactly_the_classifiers_the_model_builds(monkeypatch):
    from typing import get_args

    from rakuten_assets.core.model import (
        CLASSIFIERS,
        DEFAULT_CLASSIFIER,
        build_classifier,
    )
    from rakuten_assets.core.settings import Settings

    assert get_args(Settings.model_fields["classifier"].annotation) == CLASSIFIERS
    assert Settings.model_fields["classifier"].default == DEFAULT_CLASSIFIER
    assert type(build_classifier("svm_sgd_blend").named_steps["classifier"]).__name__ == "SoftmaxLinearEnsemble"
    assert type(build_classifier().named_steps["classifier"]).__name__ == "SoftmaxOnHoldout"
    assert type(build_classifier("sgd_sigmoid").named_steps["classifier"]).__name__ == "CalibratedOnHoldout"
    with pytest.raises(ValueError, match="unknown classifier 'svm'"):
        build_classifier("svm")


def _blobs(n_rows: int = 6000, n_features: int = 3000, n_classes: int = 12, seed: int = 0):
    """Sparse rows whose non-zero columns lean towards their class's own band of features."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n_rows) * 10 + 1000  # integer codes, like prdtypecode
    band = n_features // n_classes
    cols = np.where(rng.random((n_rows, 20)) < 0.5,
                    ((y - 1000) // 10)[:, None] * band + rng.integers(0, band, (n_rows, 20)),
                    rng.integers(0, n_features, (n_rows, 20)))
    x = sp.csr_matrix((np.ones(cols.size, dtype=np.float32), cols.ravel().astype(np.int32),
                       np.arange(0, cols.size + 1, 20, dtype=np.int32)), shape=(n_rows, n_features))
    x.sum_duplicates()
    return x, y


def _fit_peak(model, x, y) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        model.fit(x, y)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_default_classifier_learns_from_every_row_without_copying_them():
    """`SoftmaxOnHoldout`: fitted with the 10% holdout at weight 0 (no copy of the matrix:
    numpy reports its buffers to tracemalloc, so the fit's peak shows a copy), a temperature
    fitted on the holdout's scores, then two more passes over every row. Served as one linear
    model and a softmax; on rows it never saw, its temperature gives a lower log loss than
    the same scores without it."""
    from scipy.special import softmax
    from sklearn.metrics import log_loss

    # the matrix well above what the fit allocates per row or per class (labels, weights,
    # the holdout's scores, the temperature's search)
    x, y = _blobs(n_rows=120_000)
    matrix_bytes = x.data.nbytes + x.indices.nbytes + x.indptr.nbytes
    classifier = build_classifier().named_steps["classifier"]
    assert _fit_peak(classifier, x, y) < 0.5 * matrix_bytes
    assert classifier.passes_[1] == 2 and classifier.passes_[0] >= 2
    assert classifier.coef_.flags.f_contiguous and classifier.coef_.shape == (12, x.shape[1])
    np.testing.assert_array_equal(classifier.classes_, sorted(set(y)))

    fresh_x, fresh_y = _blobs(n_rows=5_000, seed=1)
    proba = classifier.predict_proba(fresh_x)
    scores = np.asarray(fresh_x @ classifier.coef_.T) + classifier.intercept_
    np.testing.assert_allclose(proba, softmax(scores, axis=1), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(classifier.predict(fresh_x), classifier.classes_[scores.argmax(axis=1)])
    without = softmax(scores * classifier.temperature_, axis=1)  # the raw SGD scores
    assert log_loss(fresh_y, proba, labels=classifier.classes_) < \
        log_loss(fresh_y, without, labels=classifier.classes_)

    # it learnt from the held-out 10% too: the holdout-only model (no extra pass) predicts the
    # rows it never trained on worse than the final model predicts them
    from rakuten_assets.core.model import CalibrationHoldout

    _, held = next(CalibrationHoldout(test_size=0.1, random_state=0).split(x, y))
    holdout_only = clone(classifier).set_params(extra_passes=0).fit(x, y)
    assert holdout_only.passes_[1] == 0
    assert np.mean(classifier.predict(x[held]) == y[held]) > np.mean(holdout_only.predict(x[held]) == y[held])


def test_sgd_sigmoid_trains_without_copying_its_training_rows():
    """At 850k rows the calibration split's copy of the training rows was 2 GB beside the 2.2 GB
    matrix; numpy reports its buffers to tracemalloc, so the fit's peak shows whether it copied."""
    from sklearn.calibration import CalibratedClassifierCV

    x, y = _blobs(n_rows=40_000)  # the matrix well above what the model itself allocates
    matrix_bytes = x.data.nbytes + x.indices.nbytes + x.indptr.nbytes
    classifier = build_classifier("sgd_sigmoid").named_steps["classifier"]
    sklearn_path = CalibratedClassifierCV(clone(classifier.estimator), method="sigmoid", cv=classifier.cv)
    peaks = {name: _fit_peak(model, x, y) for name, model in (("ours", classifier), ("sklearn", sklearn_path))}
    assert peaks["sklearn"] > 0.9 * matrix_bytes  # the control: sklearn copies the 90%
    assert peaks["ours"] < 0.5 * matrix_bytes, peaks

    # and it is the same kind of model: sklearn's fitted attributes, probabilities, classes
    ours, theirs = classifier.predict_proba(x), sklearn_path.predict_proba(x)
    assert list(classifier.classes_) == list(sklearn_path.classes_) == sorted(set(y))
    assert np.allclose(ours.sum(axis=1), 1)
    assert np.mean(ours.argmax(axis=1) == theirs.argmax(axis=1)) > 0.95
    assert abs(np.mean(classifier.predict(x) == y) - np.mean(sklearn_path.predict(x) == y)) < 0.02


def test_calibrated_on_holdout_keeps_sklearns_path_for_other_splits():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import SGDClassifier

    from rakuten_assets.core.model import CalibratedOnHoldout

    x, y = _blobs(n_rows=1500)
    sgd = SGDClassifier(loss="log_loss", random_state=0)
    ours = CalibratedOnHoldout(sgd, method="sigmoid", cv=3).fit(x, y)
    theirs = CalibratedClassifierCV(sgd, method="sigmoid", cv=3).fit(x, y)
    assert len(ours.calibrated_classifiers_) == 3
    assert np.allclose(ours.predict_proba(x), theirs.predict_proba(x))


def test_softmax_models_learn_two_classes_and_tiny_classes():
    """A binary linear model has one row of coefficients: both softmax models turn it into a
    row per class (the softmax of which is its sigmoid) instead of copying one row to both
    classes. Classes too small for a holdout leave it empty: the temperature stays 1."""
    from sklearn.linear_model import SGDClassifier
    from sklearn.svm import LinearSVC

    from rakuten_assets.core.model import SoftmaxLinearEnsemble

    x, y = _blobs(n_rows=3000, n_classes=2)
    fresh_x, fresh_y = _blobs(n_rows=1000, n_classes=2, seed=1)
    plain = SGDClassifier(loss="log_loss", random_state=0).fit(x, y)
    reference = np.mean(plain.predict(fresh_x) == fresh_y)
    assert reference > 0.9
    models = [build_classifier().named_steps["classifier"],
              SoftmaxLinearEnsemble([("svm", LinearSVC(C=0.2, random_state=0)),
                                     ("sgd", SGDClassifier(loss="log_loss", random_state=0))], cv=3)]
    for model in models:
        model.fit(x, y)
        assert model.coef_.shape == (2, x.shape[1])
        assert not np.allclose(model.coef_[0], model.coef_[1])
        proba = model.predict_proba(fresh_x)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert np.mean(model.predict(fresh_x) == fresh_y) > reference - 0.02
        assert proba.max(axis=1).mean() > 0.8  # confident where the classes separate

    tiny_x, tiny_y = x[:3], np.array([1000, 1010, 1020])  # one row a class: nothing held out
    tiny = build_classifier().named_steps["classifier"].fit(tiny_x, tiny_y)
    assert tiny.temperature_ == 1.0
    np.testing.assert_array_equal(tiny.predict(tiny_x), tiny_y)
