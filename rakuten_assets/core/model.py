"""`build_classifier()`: the estimator training fits and serving loads.

    Pipeline([("text", ProductText()),                       # DataFrame -> cleaned strings
              ("features", FeatureUnion([("words", ...),     # word 1-2-gram TF-IDF
                                         ("chars", ...)])),  # char_wb 2-5-gram TF-IDF
              ("classifier", CalibratedClassifierCV(SGD log-loss, sigmoid, 10% holdout))])

Why it is built this way (cross-validation figures: benchmarks/model_quality.py, which also
lists what was tried):

* Cleaning lives inside the pipeline, so MLflow's pyfunc (which hands over a DataFrame) and the
  API can never clean text differently from training.
* Character n-grams are computed per *distinct word* (`CharWbTfidf`) and summed into documents
  with one sparse product: the same matrix as `TfidfVectorizer(analyzer="char_wb")` (checked in
  tests/test_model.py) without building ~1,800 n-gram strings per product in Python, which made
  sklearn's char_wb the most expensive step of training. Dropping n-grams found in more than 10%
  of products (`max_df`) halves the matrix, and so the classifier's work, at no cost in F1.
* The classifier is trained once. `CalibratedClassifierCV(LinearSVC, cv=3)` trained four SVMs
  (three only to produce calibration data) and ran three per prediction. Here one model trains
  on 90% of the rows, the per-class sigmoids on the other 10% (`CalibrationHoldout`), and one
  model runs at prediction. SGD with the logistic loss scores like LinearSVC in cross-validation,
  converges in ~5 passes at full size and spreads the 27 one-vs-rest problems over two threads.
  Fitting on 68k rows on this 2-core machine: ~14 s CPU for the features, ~16 s CPU (two
  threads) for the classifier, 1.4 GB peak RSS. cv=3 calibration gives the same F1 and log loss
  there (synthetic 85k catalogue, 80/20 split) for 3x the classifier time.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import normalize

from rakuten_assets.core.text import join_fields

TEXT_STEP, FEATURES_STEP, CLASSIFIER_STEP = "text", "features", "classifier"
WORDS, CHARS = "words", "chars"  # the FeatureUnion's parts: features__words__*, features__chars__*

# Vocabulary caps. On 68k training rows (real rows replicated with perturbations) the word and
# character vocabularies after min_df/max_df hold 292k and 207k terms (synthetic catalogue: 112k
# and 90k). The caps keep the most frequent terms and bound the model: 27 x 200k float32
# coefficients, ~27 MB pickled with the vocabularies.
WORD_MAX_FEATURES = 100_000
CHAR_MAX_FEATURES = 100_000


class ProductText(BaseEstimator, TransformerMixin):
    """DataFrame -> one cleaned string per row (`join_fields(designation, description)`).

    Selects its own columns because MLflow's pyfunc and the API pass the whole frame; a missing
    `description` column and None/NaN values mean "no description", other columns are ignored.
    Stateless. (The API recognises this class by name and module to call `join_fields` directly.)
    """

    def fit(self, X, y=None):
        return self

    def transform(self, X) -> list[str]:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        n = len(frame)
        titles = frame["designation"].tolist() if "designation" in frame else [None] * n
        bodies = frame["description"].tolist() if "description" in frame else [None] * n
        return [join_fields(t, d) for t, d in zip(titles, bodies)]


def _padded_word_grams(word: str, lo: int, hi: int) -> list[str]:
    # as sklearn's char_wb: the word padded with a space each side, n-grams of each length up to
    # the padded word's own. (sklearn also emits a padded word shorter than `lo` whole; padded
    # words are >= 3 long, so that differs only for lo > 3.)
    w = f" {word} "
    return [w[i:i + n] for n in range(lo, min(hi, len(w)) + 1) for i in range(len(w) - n + 1)]


def _csr(indices: list[int], indptr: list[int], n_cols: int) -> sp.csr_matrix:
    matrix = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int64),
                            np.asarray(indptr, dtype=np.int64)), shape=(len(indptr) - 1, n_cols))
    matrix.sum_duplicates()
    return matrix


class CharWbTfidf(BaseEstimator, TransformerMixin):
    """`TfidfVectorizer(analyzer="char_wb", lowercase=False, smooth_idf=True, norm="l2")` on
    whitespace-split words, computed word by word: documents x distinct words (counts) times
    distinct words x n-grams (counts). A catalogue repeats its words, so the Python work is done
    once per distinct word instead of once per n-gram occurrence, and the sum is sparse algebra.
    Same parameters and fitted `vocabulary_` / `idf_` as sklearn's (term -> column, sorted)."""

    def __init__(self, ngram_range: tuple[int, int] = (2, 5), min_df: float = 2,
                 max_df: float = 1.0, max_features: int | None = None, sublinear_tf: bool = True,
                 dtype=np.float32):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.dtype = dtype

    def _counts(self, docs: Iterable[str], vocabulary: dict[str, int], grow: bool) -> sp.csr_matrix:
        words: dict[str, int] = {}
        add_word = words.setdefault
        indices: list[int] = []
        indptr = [0]
        for doc in docs:
            indices.extend([add_word(w, len(words)) for w in doc.split()])
            indptr.append(len(indices))
        doc_words = _csr(indices, indptr, len(words))
        lo, hi = self.ngram_range
        indices, indptr = [], [0]
        if grow:
            add_gram = vocabulary.setdefault
            for w in words:
                indices.extend([add_gram(g, len(vocabulary)) for g in _padded_word_grams(w, lo, hi)])
                indptr.append(len(indices))
        else:
            get = vocabulary.get
            for w in words:
                found = [get(g) for g in _padded_word_grams(w, lo, hi)]
                indices.extend([i for i in found if i is not None])
                indptr.append(len(indices))
        return (doc_words @ _csr(indices, indptr, len(vocabulary))).tocsr()

    def fit_transform(self, X, y=None):
        seen: dict[str, int] = {}
        counts = self._counts(X, seen, grow=True)
        n_docs = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        min_df = self.min_df if isinstance(self.min_df, (int, np.integer)) else self.min_df * n_docs
        max_df = self.max_df if isinstance(self.max_df, (int, np.integer)) else self.max_df * n_docs
        keep = np.flatnonzero((df >= min_df) & (df <= max_df))
        if self.max_features is not None and keep.size > self.max_features:
            # as sklearn: the most frequent terms over the corpus
            frequency = np.asarray(counts.sum(axis=0)).ravel()[keep]
            keep = keep[np.argsort(-frequency, kind="stable")[: self.max_features]]
        terms = np.array(list(seen), dtype=object)[keep]
        order = np.argsort(terms.astype(str), kind="stable")  # sklearn's column order
        keep, terms = keep[order], terms[order]
        self.vocabulary_ = {t: i for i, t in enumerate(terms.tolist())}
        self.idf_ = (np.log((1 + n_docs) / (1 + df[keep])) + 1).astype(self.dtype)
        return self._weight(counts[:, keep])

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self

    def transform(self, X) -> sp.csr_matrix:
        return self._weight(self._counts(X, self.vocabulary_, grow=False))

    def _weight(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        counts = counts.astype(self.dtype)
        if self.sublinear_tf:
            np.log(counts.data, out=counts.data)
            counts.data += 1
        counts.data *= self.idf_[counts.indices]
        return normalize(counts, copy=False)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array(sorted(self.vocabulary_, key=self.vocabulary_.get), dtype=object)


class CalibrationHoldout:
    """One stratified split for `CalibratedClassifierCV`: the model trains on the rest, the
    calibrators on `test_size` of each class. Unlike StratifiedShuffleSplit it accepts tiny
    classes (a class with one row stays in training; the calibrators then see none of it)."""

    def __init__(self, test_size: float = 0.1, random_state: int = 0):
        self.test_size = test_size
        self.random_state = random_state

    n_splits = 1

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return 1

    def split(self, X, y, groups=None):
        y = np.asarray(y)
        rng = np.random.default_rng(self.random_state)
        held = []
        for cls in np.unique(y):
            rows = rng.permutation(np.flatnonzero(y == cls))
            if rows.size >= 2:
                held.append(rows[: min(rows.size - 1, max(1, round(self.test_size * rows.size)))])
        test = np.sort(np.concatenate(held)) if held else np.array([], dtype=np.int64)
        train = np.setdiff1d(np.arange(y.shape[0]), test)
        yield train, test

    def __repr__(self) -> str:
        return f"CalibrationHoldout(test_size={self.test_size}, random_state={self.random_state})"


class ColumnMajorSGDClassifier(SGDClassifier):
    """`SGDClassifier` whose fitted `coef_` is stored column-major. Prediction computes
    `X @ coef_.T`; with the usual row-major 27 x n_features `coef_`, scipy copies the whole
    transposed matrix on every call (~10 ms for one product at full size). Same numbers."""

    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        super().fit(X, y, coef_init=coef_init, intercept_init=intercept_init, sample_weight=sample_weight)
        self.coef_ = np.asfortranarray(self.coef_)
        return self


def build_classifier(**overrides) -> Pipeline:
    """The unfitted pipeline. `overrides` are `set_params` keys, e.g.
    `build_classifier(features__chars__max_features=30_000, classifier__estimator__alpha=1e-5)`."""
    features = FeatureUnion([
        # \b\w+\b keeps one-character tokens: sizes and counts ("3 x 5 cm", "lot de 2")
        (WORDS, TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", sublinear_tf=True,
                                min_df=2, max_df=0.5, max_features=WORD_MAX_FEATURES, dtype=np.float32)),
        (CHARS, CharWbTfidf(ngram_range=(2, 5), min_df=2, max_df=0.1, max_features=CHAR_MAX_FEATURES,
                            sublinear_tf=True)),
    ])
    # class_weight="balanced": +1.4 points of weighted F1 in CV (small classes stop being
    # absorbed by their big siblings). tol/n_iter_no_change stop after ~5 passes at full size.
    sgd = ColumnMajorSGDClassifier(loss="log_loss", alpha=1e-4, class_weight="balanced", max_iter=30,
                                   tol=1e-3, n_iter_no_change=3, random_state=0, n_jobs=2)
    # sigmoid, not temperature scaling: sklearn 1.9 passes integer labels unencoded to the
    # temperature fit, so codes such as 2583 are read as class indices (log loss 7.9 in CV).
    classifier = CalibratedClassifierCV(sgd, method="sigmoid", cv=CalibrationHoldout(test_size=0.1, random_state=0))
    pipeline = Pipeline([(TEXT_STEP, ProductText()), (FEATURES_STEP, features), (CLASSIFIER_STEP, classifier)])
    if overrides:
        pipeline.set_params(**overrides)
    return pipeline


def _flat(value) -> str | int | float:
    return value if isinstance(value, (int, float, str)) else str(value)


def describe_classifier(pipeline: Pipeline) -> dict[str, str | int | float]:
    """The hyper-parameters worth logging to MLflow, flat, keyed by their `set_params` names."""
    params = pipeline.get_params()
    out: dict[str, str | int | float] = {}
    for part in (WORDS, CHARS):
        for key in ("analyzer", "ngram_range", "min_df", "max_df", "max_features", "sublinear_tf"):
            name = f"{FEATURES_STEP}__{part}__{key}"
            if name in params:
                out[name] = _flat(params[name])
    classifier = params.get(CLASSIFIER_STEP)
    if classifier is not None:
        out[CLASSIFIER_STEP] = type(classifier).__name__
        for key in ("method", "cv", "ensemble"):
            if f"{CLASSIFIER_STEP}__{key}" in params:
                out[f"{CLASSIFIER_STEP}__{key}"] = _flat(params[f"{CLASSIFIER_STEP}__{key}"])
        estimator = params.get(f"{CLASSIFIER_STEP}__estimator", classifier)
        out[f"{CLASSIFIER_STEP}__estimator"] = type(estimator).__name__
        for key, value in estimator.get_params(deep=False).items():
            if key in ("loss", "alpha", "C", "penalty", "class_weight", "max_iter", "tol"):
                out[f"{CLASSIFIER_STEP}__estimator__{key}"] = _flat(value)
    return out
