"""Fitting the featuriser part by part (as the dynamic `tfidf_features` graph does) gives the
same fitted featuriser and the same matrices as fitting the FeatureUnion whole."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from rakuten_assets.core.model import build_classifier
from rakuten_assets.core.synthetic import generate_catalogue
from rakuten_assets.core.training import split_train_test
from rakuten_assets.core.training_features import (
    WHOLE,
    assemble,
    clean_split_texts,
    feature_parts,
    fit_part,
)


@pytest.fixture(scope="module")
def texts():
    frame = split_train_test(generate_catalogue(1_500, seed=3), 0.2, 42)
    return clean_split_texts(build_classifier().named_steps["text"], frame)


def _same(a, b):
    assert a.shape == b.shape
    assert abs(a - b).max() < 1e-6


def test_parts_fitted_apart_equal_the_union_fitted_whole(texts):
    features = build_classifier().named_steps["features"]
    whole = clone(features)
    x_whole = whole.fit_transform(texts.train)
    # finished in reverse order, as parallel steps may
    parts = [fit_part(name, part, texts) for name, part in reversed(feature_parts(features))]
    fitted, x_train, x_test = assemble(clone(features), parts)
    _same(x_train, x_whole)
    _same(x_test, whole.transform(texts.test))
    _same(fitted.transform(texts.test[:50]), whole.transform(texts.test[:50]))
    assert list(fitted.get_feature_names_out()) == list(whole.get_feature_names_out())


def test_transformer_weights_and_dropped_parts_as_feature_union(texts):
    union = FeatureUnion([("a", TfidfVectorizer(min_df=2)), ("gone", "drop"),
                          ("b", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), min_df=2))],
                         transformer_weights={"a": 2.0})
    whole = clone(union)
    x_whole = whole.fit_transform(texts.train)
    assert [name for name, _ in feature_parts(union)] == ["a", "b"]
    _, x_train, _ = assemble(clone(union), [fit_part(n, p, texts) for n, p in feature_parts(union)])
    _same(x_train, x_whole)


def test_a_missing_part_is_an_error_not_a_narrower_matrix(texts):
    features = build_classifier().named_steps["features"]
    name, part = feature_parts(features)[0]
    with pytest.raises(ValueError, match="not fitted"):
        assemble(clone(features), [fit_part(name, part, texts)])


def test_a_featuriser_that_is_not_a_union_is_one_part(texts):
    vectoriser = TfidfVectorizer(min_df=2)
    [(name, part)] = feature_parts(vectoriser)
    assert name == WHOLE
    fitted, x_train, _ = assemble(vectoriser, [fit_part(name, part, texts)])
    _same(x_train, clone(vectoriser).fit_transform(texts.train))
    assert len(texts.y_train) == len(texts.train) and len(texts.y_test) == len(texts.test)


@pytest.mark.parametrize("overrides", [{}, {"max_features": 300}, {"min_df": 0.005, "max_df": 0.5}])
def test_bounded_char_fit_equals_the_class_own_fit(texts, overrides):
    from rakuten_assets.core.model import CharWbTfidf
    from rakuten_assets.core.training_features import _char_wb_fit_transform

    params = {"ngram_range": (2, 5), "min_df": 2, "max_df": 0.1, **overrides}
    reference = CharWbTfidf(**params)
    x_reference = reference.fit_transform(texts.train)
    bounded = CharWbTfidf(**params)
    x_bounded = _char_wb_fit_transform(bounded, texts.train, chunk_rows=97)  # many uneven chunks
    assert bounded.vocabulary_ == reference.vocabulary_
    assert np.array_equal(bounded.idf_, reference.idf_)
    _same(x_bounded, x_reference)
    _same(bounded.transform(texts.test), reference.transform(texts.test))


@pytest.mark.parametrize("rows_per_piece", [1, 7, 100, 10**9])
def test_stacking_row_pieces_equals_scipys_hstack_and_frees_each_piece(rows_per_piece):
    from rakuten_assets.core.training_features import RowPieces, hstack_releasing

    rng = np.random.default_rng(3)
    shapes = [(250, 40, 0.1), (250, 7, 0.5), (250, 300, 0.01)]
    matrices = [sp.random(n, m, density=d, format="csr", dtype=np.float32, random_state=rng) for n, m, d in shapes]
    matrices[1][5:9] = 0  # empty rows
    matrices[1].eliminate_zeros()
    weights = [None, 0.35, 2.0]
    expected = sp.hstack([m * w if w is not None else m for m, w in zip(matrices, weights)], format="csr")
    # one block whole, the others in pieces of different sizes
    blocks = [(matrices[0], weights[0]), (RowPieces(matrices[1], rows_per_piece), weights[1]),
              (RowPieces(matrices[2], max(1, rows_per_piece // 2 + 3)), weights[2])]
    held = [b for b, _ in blocks[1:]]
    stacked = hstack_releasing(blocks, chunk_rows=11)
    _same(stacked, expected)
    assert blocks == [] and all(p is None for b in held for p in b.pieces)
    assert len(held[0].pieces) == (-(-250 // rows_per_piece) if rows_per_piece < 250 else 1)


def test_fitted_parts_keep_32_bit_indices(texts):
    features = build_classifier().named_steps["features"]
    parts = [fit_part(name, part, texts) for name, part in feature_parts(features)]
    part_matrices = [piece for p in parts for piece in p.x_train.pieces]
    _, x_train, x_test = assemble(clone(features), parts)
    for matrix in [x_train, x_test, *part_matrices]:
        assert matrix.indices.dtype == np.int32 and matrix.indptr.dtype == np.int32
    _same(x_train, clone(features).fit_transform(texts.train))
    # the parts gave their matrices up to the stack
    assert all(p.x_train is None and p.x_test is None for p in parts)


def _word_texts():
    """Real product texts when the shared data is there (accents, digits, one-letter tokens,
    HTML left-overs), and synthetic ones, plus the edge cases of tokenising."""
    from tests.support.env import REAL_DATA

    docs = [clean for clean in clean_split_texts(
        build_classifier().named_steps["text"],
        split_train_test(generate_catalogue(3_000, seed=5), 0.2, 42)).train]
    if (REAL_DATA / "labeled_text.csv").is_file():  # more variety when present; not required
        import pandas as pd

        real = pd.read_csv(REAL_DATA / "labeled_text.csv")
        docs += build_classifier().named_steps["text"].transform(real)
    edge = ["", "x", "un", "UN deux", "a a a a", "!!!", "lot de 2 lot de 2", "été été", "  "]
    return edge + docs[: len(docs) // 2] + edge + docs[len(docs) // 2:]


@pytest.mark.parametrize(("part", "overrides"), [
    ("words", {}),                                                 # the model's own word vectoriser
    ("words", {"max_features": None, "max_df": 1.0, "min_df": 1}),  # every term kept
    ("words", {"max_features": 2_000, "min_df": 3, "max_df": 0.2}),
    ("words", {"ngram_range": (1, 1), "token_pattern": r"(?u)\b\w\w+\b", "sublinear_tf": False}),
    ("words", {"ngram_range": (1, 3), "max_features": 5_000}),
    ("shapes", {}),                                                # the word-shape vectoriser
    ("shapes", {"max_df": 1.0, "min_df": 1, "max_features": 300}),
    ("shapes", {"ngram_range": (1, 2)}),
])
def test_fast_word_fit_equals_sklearns_own(part, overrides):
    from rakuten_assets.core.training_features import (
        _fast_word_fit_applies,
        _word_tfidf_fit_transform,
    )

    docs = _word_texts()
    train, test = docs[::3] + docs[1::3], docs[2::3] + ["mots jamais vus", "", "2 lot"]
    words = clone(dict(build_classifier().named_steps["features"].transformer_list)[part]).set_params(**overrides)
    assert _fast_word_fit_applies(words)
    theirs = clone(words)
    x_train_theirs = theirs.fit_transform(train)
    x_test_theirs = theirs.transform(test)
    x_train, x_test = _word_tfidf_fit_transform(words, train, test)
    assert words.vocabulary_ == theirs.vocabulary_
    assert set(vars(words)) == set(vars(theirs))
    np.testing.assert_array_equal(words.idf_, theirs.idf_)
    for ours, sklearn in ((x_train, x_train_theirs), (x_test, x_test_theirs)):
        ours, sklearn = ours.tocsr(), sklearn.tocsr()
        ours.sort_indices()
        sklearn.sort_indices()
        np.testing.assert_array_equal(ours.indptr, sklearn.indptr)
        np.testing.assert_array_equal(ours.indices, sklearn.indices)
        np.testing.assert_allclose(ours.data, sklearn.data, rtol=1e-6)
    # and the fitted vectoriser transforms new text as sklearn's does
    _same(words.transform(test), x_test_theirs)
