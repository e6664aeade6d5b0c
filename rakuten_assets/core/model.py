"""`build_classifier()`: the estimator training fits and serving loads.

    Pipeline([("text", ProductText()),                       # DataFrame -> cleaned strings
              ("features", FeatureUnion([("words", ...),     # word 1-2-gram TF-IDF
                                         ("chars", ...)])),  # char_wb 2-5-gram TF-IDF
              ("classifier", SoftmaxOnHoldout(SGD log-loss, one softmax temperature
                                              fitted on a 10% holdout, 2 more passes)))])
    # or, with build_classifier("svm_sgd_blend") / RAKUTEN_CLASSIFIER=svm_sgd_blend:
              ("classifier", SoftmaxLinearEnsemble(LinearSVC + SGD log-loss,
                                                   one softmax temperature, 3-fold OOF))
    # or, with build_classifier("sgd_sigmoid"), the default until 2026-12-04:
              ("classifier", CalibratedOnHoldout(SGD log-loss, sigmoid, 10% holdout))

Why it is built this way (cross-validation figures: benchmarks/model_quality.py, which also
lists what was tried):

* Cleaning lives inside the pipeline, so MLflow's pyfunc (which hands over a DataFrame) and the
  API can never clean text differently from training.
* Character n-grams are computed per *distinct word* (`CharWbTfidf`) and summed into documents
  with one sparse product: the same matrix as `TfidfVectorizer(analyzer="char_wb")` (checked in
  tests/test_model.py) without building ~1,800 n-gram strings per product in Python, which made
  sklearn's char_wb the most expensive step of training. Dropping n-grams found in more than 10%
  of products (`max_df`) halves the matrix, and so the classifier's work, at no cost in F1.
* The default classifier (`sgd_softmax`, `SoftmaxOnHoldout`): one logistic SGD, trained with
  the 10% holdout at weight 0 (no copy of the matrix), one softmax temperature fitted on the
  holdout's scores, then two more passes over all rows. One temperature keeps the ranking of
  the scores: calibration never changes a prediction, and the model learns from every row.
  `CalibratedClassifierCV(LinearSVC, cv=3)` trained four SVMs (three only to produce
  calibration data) and ran three per prediction; the per-class sigmoids of `sgd_sigmoid` (the
  default until 2026-12-04) changed the ranking and never learnt from the 10%. SGD with the
  logistic loss scores like LinearSVC in cross-validation, converges in ~5 passes at full size
  and spreads the 27 one-vs-rest problems over two threads. Served as one sparse product and a
  softmax.
* The opt-in classifier (issue 14, `svm_sgd_blend`): a hinge LinearSVC and a logistic SGD
  blended into one linear model (`SoftmaxLinearEnsemble`), probabilities from a softmax with
  one temperature fitted on 3-fold out-of-fold scores. Training fits each member 4 times (10.0 s
  CPU per fold of the 4k-row CV for the whole pipeline, against 2.8 s for the default), hence
  opt-in (CLASSIFIERS below). Cross-validation figures of
  all three: benchmarks/model_quality.py and docs/benchmarks.md.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from rakuten_assets.core.text import join_fields

TEXT_STEP, FEATURES_STEP, CLASSIFIER_STEP = "text", "features", "classifier"
# the FeatureUnion's parts: features__words__*, features__chars__*, features__shapes__*
WORDS, CHARS, SHAPES = "words", "chars", "shapes"
# The shapes block's weight beside the words and chars blocks (each l2-normalised): 0.35 was the
# best of 0.25-0.5 for the SGD in the real CV, chosen on other fold seeds than the benchmark's
SHAPES_WEIGHT = 0.35

# Vocabulary caps. On 68k training rows (real rows replicated with perturbations) the word and
# character vocabularies after min_df/max_df hold 292k and 207k terms (synthetic catalogue: 112k
# and 90k). The caps keep the most frequent terms and bound the model: 27 x 200k float32
# coefficients, ~27 MB pickled with the vocabularies.
WORD_MAX_FEATURES = 100_000
CHAR_MAX_FEATURES = 100_000
# shapes have a small alphabet: 3,521 n-grams at 850k synthetic rows; the cap only guarantees it
SHAPE_MAX_FEATURES = 20_000


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


_DIGIT_RUNS = re.compile(r"\d+")
_LETTER_RUNS = re.compile(r"[^\W\d_]+")


def word_shape(word: str) -> str:
    """A word's form without its letters and digits: each run of digits becomes "9", each run of
    letters "a", anything else stays ("28/09/2001" -> "9/9/9", "45x45" -> "9a9", "n°133" ->
    "a°9", "l'ecole" -> "a'a")."""
    return _LETTER_RUNS.sub("a", _DIGIT_RUNS.sub("9", word))


class WordShapeTfidf(TfidfVectorizer):
    """TF-IDF over the n-grams of the words' shapes (`word_shape`) in whitespace-split text.

    Why: the words and chars blocks know what a product is called; this one knows how its text
    is laid out, which tells categories apart when the words are new or shared: a magazine
    issue ("n°9 du 9/9/9"), a book's references, sizes ("9x9 a"), a bare list of numbers.
    In the 4k-row real CV it is worth +0.6-0.9 points of weighted F1 (benchmarks/model_quality.py).

    It is a TfidfVectorizer whose tokenizer yields shapes, so scikit-learn, the fitting fast path
    (training_features) and the API's counting (api.engine.featurize, one whitespace chunk at a
    time) all read it as a word vectoriser; the text is already cleaned and lower-cased."""

    # a document's tokens are its whitespace chunks' tokens one after the other
    chunkwise_tokens = True

    def __init__(self, ngram_range=(1, 3), min_df=2, max_df=0.5, max_features=None, sublinear_tf=True,
                 dtype=np.float32):
        super().__init__(ngram_range=ngram_range, min_df=min_df, max_df=max_df, max_features=max_features,
                         sublinear_tf=sublinear_tf, dtype=dtype, lowercase=False, token_pattern=None)

    def build_tokenizer(self):
        return _shape_tokens

    def get_params(self, deep=True):
        # the constructor's own parameters only: the fixed ones are not settable
        return {k: getattr(self, k) for k in ("ngram_range", "min_df", "max_df", "max_features",
                                              "sublinear_tf", "dtype")}


# a catalogue repeats its words: each distinct word's shape is made once (2 regex passes over a
# whole text cost 10x more at 850k rows); bounded, as it lives as long as the process
_cached_shape = functools.lru_cache(maxsize=1 << 16)(word_shape)


def _shape_tokens(doc: str) -> list[str]:
    return list(map(_cached_shape, doc.split()))


def _padded_word_grams(word: str, lo: int, hi: int) -> list[str]:
    # as sklearn's char_wb: the word padded with a space each side, n-grams of each length up to
    # the padded word's own. (sklearn also emits a padded word shorter than `lo` whole; padded
    # words are >= 3 long, so that differs only for lo > 3.)
    w = f" {word} "
    return [w[i:i + n] for n in range(lo, min(hi, len(w)) + 1) for i in range(len(w) - n + 1)]


def numbering() -> tuple[defaultdict[str, int], Callable[[str], int]]:
    """(table, id_of): `id_of(key)` is the key's id, a new key getting the next one (`len`), as
    scikit-learn numbers its vocabulary. Known keys are found by the dict's C lookup, with no
    Python call per key: `ids.extend(map(id_of, keys))`."""
    table: defaultdict[str, int] = defaultdict()
    table.default_factory = table.__len__
    return table, table.__getitem__


def document_count_bounds(vec, n_docs: int) -> tuple[float, float]:
    """(min_df, max_df) of a vectoriser as document counts: an int is a count, a float a share."""
    min_df = vec.min_df if isinstance(vec.min_df, (int, np.integer)) else vec.min_df * n_docs
    max_df = vec.max_df if isinstance(vec.max_df, (int, np.integer)) else vec.max_df * n_docs
    return min_df, max_df


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
        words, word_id = numbering()
        indices: list[int] = []
        indptr = [0]
        for doc in docs:
            indices.extend(map(word_id, doc.split()))
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
        min_df, max_df = document_count_bounds(self, n_docs)
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


def fit_without_holdout(estimator, X, y: np.ndarray, holdout: CalibrationHoldout):
    """A clone of `estimator` fitted with weight 0 on the rows `holdout` holds out, and those
    rows' indices. Rows of weight 0 give no gradient, and no copy of the matrix is made (the
    90% copy sklearn makes was 2 GB at 850k rows)."""
    from sklearn.base import clone

    train, held = next(holdout.split(X, y))
    weight = np.zeros(y.shape[0])
    weight[train] = 1.0
    return clone(estimator).fit(X, y, sample_weight=weight), held


class CalibratedOnHoldout(CalibratedClassifierCV):
    """`CalibratedClassifierCV(estimator, method="sigmoid", cv=CalibrationHoldout(...))` that
    never copies the training rows: the estimator is fitted on all rows with weight 0 on the
    held-out ones, and only the held-out rows (10%) are copied to fit the per-class sigmoids.

    sklearn's own fit copies the 90% it trains on (`X[train]`): at 850k rows that copy was 2 GB
    beside the 2.2 GB matrix, the training step's peak. Rows of weight 0 give no gradient; the
    fitted model differs from one fitted on the copy only through SGD's learning-rate schedule
    and stopping test, which count them (weighted F1 on the 85k catalogue: docs/scaling.md).
    Any other `cv`, sample weights or fit parameters take sklearn's path unchanged. The fitted
    attributes are sklearn's (`calibrated_classifiers_`, `classes_`), so it predicts, pickles
    and is served as a `CalibratedClassifierCV`."""

    def fit(self, X, y, sample_weight=None, **fit_params):
        if not isinstance(self.cv, CalibrationHoldout) or sample_weight is not None or fit_params:
            return super().fit(X, y, sample_weight=sample_weight, **fit_params)
        from sklearn.calibration import (
            _fit_calibrator,  # sklearn's own calibrator fit (pinned)
        )

        y = np.asarray(y)
        self.classes_ = np.unique(y)
        estimator, held = fit_without_holdout(self._get_estimator(), X, y, self.cv)
        scores = estimator.decision_function(X[held])
        if scores.ndim == 1:
            scores = scores.reshape(-1, 1)
        self.calibrated_classifiers_ = [_fit_calibrator(estimator, scores, y[held], self.classes_,
                                                        self.method, xp=np)]
        if hasattr(estimator, "n_features_in_"):
            self.n_features_in_ = estimator.n_features_in_
        return self


class ColumnMajorSGDClassifier(SGDClassifier):
    """`SGDClassifier` whose fitted `coef_` is stored column-major. Prediction computes
    `X @ coef_.T`; with the usual row-major 27 x n_features `coef_`, scipy copies the whole
    transposed matrix on every call (~10 ms for one product at full size). Same numbers."""

    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        super().fit(X, y, coef_init=coef_init, intercept_init=intercept_init, sample_weight=sample_weight)
        self.coef_ = np.asfortranarray(self.coef_)
        return self


def fit_temperature(scores: np.ndarray, codes: np.ndarray) -> float:
    """The softmax temperature that minimises the log loss of `scores` (rows x classes) for
    the true class indices `codes`. One temperature keeps the ranking of the scores, so it
    calibrates without changing a prediction. Fitted here rather than with sklearn's
    temperature method: sklearn 1.9 reads integer class codes such as 2583 as class indices."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    if not len(codes):
        return 1.0
    rows = np.arange(len(codes))

    def log_loss(log_t: float) -> float:
        return -log_softmax(scores / np.exp(log_t), axis=1)[rows, codes].mean()

    return float(np.exp(minimize_scalar(log_loss, bounds=(-8, 4), method="bounded").x))


def per_class_linear(est) -> tuple[np.ndarray, np.ndarray]:
    """A fitted linear classifier's coefficients and intercepts, one row per class of
    `est.classes_`. A binary model has one row, for the second class: it becomes a row of
    zeros for the first class and that row for the second, the softmax of which is the
    model's own sigmoid."""
    coef, intercept = np.atleast_2d(est.coef_), np.ravel(est.intercept_)
    if len(est.classes_) == 2 and coef.shape[0] == 1:
        return np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    return coef, intercept


def class_scores(fitted, X, classes: np.ndarray) -> np.ndarray:
    """A fitted linear classifier's scores of the rows `X`, one column per class of `classes`
    (a superset of the classes it saw); a class it never saw scores -1e3 (no probability)."""
    coef, intercept = per_class_linear(fitted)
    scores = np.full((X.shape[0], classes.size), -1e3)
    scores[:, np.searchsorted(classes, fitted.classes_)] = np.asarray(X @ coef.T) + intercept
    return scores


class SoftmaxLinear(BaseEstimator, ClassifierMixin):
    """A fitted linear model served as one sparse product and a softmax: `coef_` (column-major,
    see ColumnMajorSGDClassifier) and `intercept_` already divided by the temperature. The
    API's predictor serves it as it is (no input validation, no per-class passes)."""

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def predict_proba(self, X) -> np.ndarray:
        scores = self.decision_function(X)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]


class SoftmaxOnHoldout(SoftmaxLinear):
    """A linear model (the default: logistic SGD) trained on all rows, with probabilities from
    one softmax temperature fitted on a held-out 10%.

    1. The estimator is fitted with weight 0 on the held-out rows (no copy of the matrix, as in
       `CalibratedOnHoldout`), 2. the temperature minimises the log loss of its scores on those
       rows, 3. `extra_passes` more epochs of `partial_fit` over ALL rows, the held-out ones
       included, continue its learning-rate schedule, so the served model has learnt from
       every row. In 5-fold CV on the 4,094 real rows (benchmarks/model_quality.py) that gave
       weighted F1 0.737 / log loss 0.99 / ECE 0.06, against 0.728 / 1.05 / 0.14 for
       per-class sigmoids fitted on the holdout (`CalibratedOnHoldout`): the sigmoids change
       the ranking and the model never learns from the 10%. Training costs ~1.3-1.5x the
       SGD's own fit (two more passes).
    """

    def __init__(self, estimator=None, holdout: CalibrationHoldout | None = None,
                 extra_passes: int = 2):
        self.estimator = estimator
        self.holdout = holdout
        self.extra_passes = extra_passes

    def fit(self, X, y):
        from sklearn.utils.class_weight import compute_class_weight

        y = np.asarray(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        holdout = self.holdout or CalibrationHoldout(test_size=0.1, random_state=0)
        est, held = fit_without_holdout(self.estimator, X, y, holdout)
        self.temperature_ = fit_temperature(class_scores(est, X[held], self.classes_), codes[held])
        self.passes_ = [int(getattr(est, "n_iter_", 0)), 0]
        if self.extra_passes and hasattr(est, "partial_fit"):
            if getattr(est, "class_weight", None) == "balanced":  # partial_fit wants the weights
                est.class_weight = dict(zip(self.classes_, compute_class_weight(
                    "balanced", classes=self.classes_, y=y)))
            # partial_fit writes into coef_ in place and needs it row-major
            est.coef_ = np.ascontiguousarray(est.coef_)
            for _ in range(self.extra_passes):
                est.partial_fit(X, y)
            self.passes_[1] = self.extra_passes
        # one column-major array (see ColumnMajorSGDClassifier), divided in place, in the SGD's
        # own dtype: float32 on float32 features, which halves the served product's time
        # (0.86 against 1.8 ms for 256 rows) and changes probabilities by ~1e-6
        fitted_coef, fitted_intercept = per_class_linear(est)
        coef = np.zeros((self.classes_.size, X.shape[1]), dtype=fitted_coef.dtype, order="F")
        intercept = np.zeros(self.classes_.size)
        where = np.searchsorted(self.classes_, est.classes_)
        coef[where] = fitted_coef
        intercept[where] = fitted_intercept
        coef /= self.temperature_
        self.coef_, self.intercept_ = coef, intercept / self.temperature_
        self.estimator_ = type(est).__name__
        if hasattr(est, "n_features_in_"):
            self.n_features_in_ = est.n_features_in_
        return self


class SoftmaxLinearEnsemble(SoftmaxLinear):
    """Several linear models blended into ONE linear model, with probabilities from a softmax
    whose temperature is fitted on out-of-fold scores.

    Each member's decision scores are scaled by their out-of-fold standard deviation (a hinge
    SVM and a logistic model score on different scales), summed, and divided by a temperature
    that minimises the out-of-fold log loss. A sum of linear models is linear: the fitted
    `coef_`/`intercept_` hold the blend, so serving costs one sparse product and a softmax
    whatever the number of members (the per-class sigmoids of `CalibratedClassifierCV` cost
    27 more element-wise passes). One temperature keeps the ranking of the blended scores,
    so calibration cannot change a prediction; per-class sigmoids did, and cost about a point
    of weighted F1 in cross-validation (benchmarks/model_quality.py).
    """

    def __init__(self, estimators=None, cv: int = 3, random_state: int = 0):
        self.estimators = estimators
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y):
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold

        y = np.asarray(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        members = [est for _, est in self.estimators]
        # stratified folds need every class at least cv times; smaller classes go in training
        counts = np.bincount(codes)
        n_splits = int(min(self.cv, counts.max()))
        folds = []
        if n_splits >= 2:
            splittable = np.flatnonzero(counts[codes] >= n_splits)
            folds = [(np.union1d(splittable[tr], np.flatnonzero(counts[codes] < n_splits)), splittable[te])
                     for tr, te in StratifiedKFold(n_splits, shuffle=True, random_state=self.random_state)
                     .split(splittable, codes[splittable])]
        held = np.concatenate([te for _, te in folds]) if folds else np.empty(0, dtype=np.int64)
        oof = [np.zeros((held.size, self.classes_.size)) for _ in members]
        start = 0
        for train, test in folds:
            for i, est in enumerate(members):
                fitted = clone(est).fit(X[train], y[train])
                oof[i][start:start + test.size] = class_scores(fitted, X[test], self.classes_)
            start += test.size
        self.scales_ = np.array([1.0 / max(float(np.std(o)), 1e-12) if o.size else 1.0 for o in oof])
        blend = sum(w * o for w, o in zip(self.scales_, oof))
        self.temperature_ = fit_temperature(blend, codes[held])
        coef = np.zeros((self.classes_.size, X.shape[1]))
        intercept = np.zeros(self.classes_.size)
        self.estimators_ = []
        for w, est in zip(self.scales_, members):
            fitted = clone(est).fit(X, y)
            where = np.searchsorted(self.classes_, fitted.classes_)
            c, b = per_class_linear(fitted)
            coef[where] += w * c
            intercept[where] += w * b
            self.estimators_.append(type(fitted).__name__)
        # column-major: prediction computes X @ coef_.T (see ColumnMajorSGDClassifier)
        self.coef_ = np.asfortranarray(coef / self.temperature_)
        self.intercept_ = intercept / self.temperature_
        return self


# The classifiers build_classifier() knows (RAKUTEN_CLASSIFIER). The blend scores above the
# default in cross-validation, but fits each member four times, which the 850k run cannot
# afford on two cores (docs/benchmarks.md, docs/scaling.md): it is opt-in.
CLASSIFIERS = ("sgd_softmax", "sgd_sigmoid", "svm_sgd_blend")
DEFAULT_CLASSIFIER = "sgd_softmax"


def build_classifier(kind: str = DEFAULT_CLASSIFIER, **overrides) -> Pipeline:
    """The unfitted pipeline. `kind` is one of CLASSIFIERS; `overrides` are `set_params` keys, e.g.
    `build_classifier(features__chars__max_features=30_000, classifier__estimator__alpha=1e-5)`."""
    if kind not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {kind!r}: one of {', '.join(CLASSIFIERS)}")
    features = FeatureUnion([
        # \b\w+\b keeps one-character tokens: sizes and counts ("3 x 5 cm", "lot de 2")
        (WORDS, TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", sublinear_tf=True,
                                min_df=2, max_df=0.5, max_features=WORD_MAX_FEATURES, dtype=np.float32)),
        (CHARS, CharWbTfidf(ngram_range=(2, 5), min_df=2, max_df=0.1, max_features=CHAR_MAX_FEATURES,
                            sublinear_tf=True)),
        (SHAPES, WordShapeTfidf(ngram_range=(1, 3), min_df=2, max_df=0.5, max_features=SHAPE_MAX_FEATURES)),
    ], transformer_weights={SHAPES: SHAPES_WEIGHT})
    # class_weight="balanced": +1.4 points of weighted F1 in CV (small classes stop being
    # absorbed by their big siblings). tol/n_iter_no_change stop after ~4 passes at full size:
    # n_iter_no_change=2 rather than 3 saves a fifth of the fit (16 s at 850k rows); weighted F1
    # 0.8674 at 85k rows either way, 0.7282 against 0.7271 in the 4k-row CV (benchmarks/scaling.py,
    # model_quality.py).
    if kind == "sgd_softmax":
        # n_iter_no_change=1: the two passes over all rows that follow the temperature finish the
        # job; stopping the first fit one pass earlier cost nothing in CV (0.7371 against 0.7374
        # weighted F1) and saves a pass over the matrix (~15 s at 850k rows)
        sgd = ColumnMajorSGDClassifier(loss="log_loss", alpha=1e-4, class_weight="balanced", max_iter=30,
                                       tol=1e-3, n_iter_no_change=1, random_state=0, n_jobs=2)
        classifier = SoftmaxOnHoldout(sgd, holdout=CalibrationHoldout(test_size=0.1, random_state=0),
                                      extra_passes=2)
    elif kind == "sgd_sigmoid":  # the default until 2026-12-04 (issue 14)
        sgd = ColumnMajorSGDClassifier(loss="log_loss", alpha=1e-4, class_weight="balanced", max_iter=30,
                                       tol=1e-3, n_iter_no_change=2, random_state=0, n_jobs=2)
        # sigmoid, not temperature scaling: sklearn 1.9 passes integer labels unencoded to the
        # temperature fit, so codes such as 2583 are read as class indices (log loss 7.9 in CV).
        classifier = CalibratedOnHoldout(sgd, method="sigmoid",
                                         cv=CalibrationHoldout(test_size=0.1, random_state=0))
    else:
        sgd = SGDClassifier(loss="log_loss", alpha=1e-4, class_weight="balanced", max_iter=30,
                            tol=1e-3, n_iter_no_change=3, random_state=0, n_jobs=2)
        # the hinge SVM and the logistic SGD err on different products: their blend scores above
        # either (benchmarks/model_quality.py); C=0.2 was the best SVM in the blend
        svm = LinearSVC(C=0.2, class_weight="balanced", random_state=0)  # liblinear shuffles
        classifier = SoftmaxLinearEnsemble([("svm", svm), ("sgd", sgd)], cv=3, random_state=0)
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
    for part in (WORDS, CHARS, SHAPES):
        for key in ("analyzer", "ngram_range", "min_df", "max_df", "max_features", "sublinear_tf"):
            name = f"{FEATURES_STEP}__{part}__{key}"
            if name in params:
                out[name] = _flat(params[name])
    classifier = params.get(CLASSIFIER_STEP)
    if classifier is not None:
        out[CLASSIFIER_STEP] = type(classifier).__name__
        for key in ("method", "cv", "ensemble", "extra_passes"):
            if f"{CLASSIFIER_STEP}__{key}" in params:
                out[f"{CLASSIFIER_STEP}__{key}"] = _flat(params[f"{CLASSIFIER_STEP}__{key}"])
        members = [(f"{CLASSIFIER_STEP}__{name}", est) for name, est in
                   (getattr(classifier, "estimators", None) or [])]
        if not members:
            estimator = params.get(f"{CLASSIFIER_STEP}__estimator", classifier)
            members = [(f"{CLASSIFIER_STEP}__estimator", estimator)]
        for prefix, estimator in members:
            out[prefix] = type(estimator).__name__
            for key, value in estimator.get_params(deep=False).items():
                if key in ("loss", "alpha", "C", "penalty", "class_weight", "max_iter", "tol", "n_iter_no_change"):
                    out[f"{prefix}__{key}"] = _flat(value)
    return out
