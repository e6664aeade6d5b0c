"""The served model's hot path: texts in, probabilities and top-k out, vectorised.

Measured (py-spy) on the TF-IDF + linear pipeline: a one-row `predict_proba` spent almost all
of its ~20-30 ms in the classifier's `X @ coef_.T`: `coef_` is a C-ordered 27 x N matrix, so
its transpose is F-ordered and scipy copies the whole N x 27 matrix to C order on every call.
Storing `coef_` in Fortran order makes `coef_.T` C-contiguous: the product then costs
microseconds and gives the same numbers. `optimise_linear_models` does that once at load, for
every fitted estimator in the pipeline that has a 2-D `coef_` (nested ones too), and the
predictor checks on sample rows that the probabilities did not change.

The pipeline steps are called one after the other on a DataFrame of the two text columns (a
sequential FeatureUnion's parts directly, skipping joblib's per-call set-up); top-k uses
`argpartition` over the probability matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.pipeline import FeatureUnion

from api.engine.featurize import ChunkCache, FastTfidf
from rakuten_assets.core.categories import category_name
from rakuten_assets.core.text import fold_words, markup_free_texts

TOP_K = 5
TEXT_COLUMNS = ["designation", "description"]

_SAMPLE = [
    ("Lot de 3 figurines Pokémon Pikachu", "<p>Figurines en plastique, hauteur 5 cm.</p>"),
    ("Jeu PS4 FIFA 19", None),
    ("Piscine tubulaire ronde 3,66 x 0,76 m", "Pompe de filtration incluse &amp; bâche"),
    ("Coussin décoratif en coton 45x45", ""),
    ("Harry Potter à l'école des sorciers - livre de poche", "Roman jeunesse"),
    ("<b></b>", None),  # nothing left once cleaned
    ("🦄 Licorne   LUMINEUSE\tà piles", "x" * 300 + " <script>alert(1)</script>"),
    ("a", "b"),
]


def _estimators(obj, depth: int = 0, seen: set | None = None):
    """Every estimator reachable from `obj` through its attributes: pipeline steps, union
    parts, meta-estimators' fitted members, whatever a custom wrapper keeps them in."""
    seen = set() if seen is None else seen
    if depth > 8 or obj is None or id(obj) in seen:
        return
    seen.add(id(obj))
    yield obj
    try:
        attributes = vars(obj)
    except TypeError:
        return
    for value in list(attributes.values()):
        for child in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(child, tuple) and len(child) >= 2:  # (name, estimator[, columns])
                child = child[1]
            if hasattr(child, "get_params") or hasattr(child, "coef_") or hasattr(child, "estimator"):
                yield from _estimators(child, depth + 1, seen)


def optimise_linear_models(pipeline) -> int:
    """Store every 2-D `coef_` in Fortran order (see the module docstring); returns how many
    linear estimators now have a C-contiguous `coef_.T` (some, e.g. lbfgs logistic
    regression, are fitted that way already)."""
    count = 0
    for est in _estimators(pipeline):
        coef = getattr(est, "coef_", None)
        if not (isinstance(coef, np.ndarray) and coef.ndim == 2):
            continue
        if not coef.flags.f_contiguous:
            try:
                est.coef_ = np.asfortranarray(coef)
            except AttributeError:  # a read-only property on some estimator
                continue
        count += 1
    return count


def _transform(step, X, fast: dict | None = None, shares: dict | None = None):
    """`step.transform(X)`, minus joblib's per-call set-up for a sequential FeatureUnion, and
    with the fast TF-IDF counting (`api.engine.featurize`) for the vectorizers in `fast`.
    `shares` (vectorizer id -> None) receives the known-word shares those vectorizers give
    from their own tokenisation (`FastTfidf.transform_with_shares`)."""
    fast = fast or {}
    shares = {} if shares is None else shares

    def run(t):
        if id(t) not in fast:
            return t.transform(X)
        if id(t) in shares:
            out, shares[id(t)] = fast[id(t)].transform_with_shares(X)
            return out
        return fast[id(t)].transform(X)

    if id(step) in fast:
        return run(step)
    if isinstance(step, FeatureUnion) and step.n_jobs in (None, 1):
        weights = step.transformer_weights or {}
        parts = [weighted(run(t), weights.get(name)) for name, t in step.transformer_list
                 if t is not None and not isinstance(t, str)]
        if parts and all(sp.issparse(p) for p in parts):
            return sp.hstack(parts, format="csr")
        return step.transform(X)
    return step.transform(X)


def weighted(part, weight):
    """A FeatureUnion part's output times its `transformer_weights` entry, as the union does
    (in place: the fast parts' matrices are new at every call)."""
    if weight is None or weight == 1 or not sp.issparse(part):
        return part
    part.data *= part.data.dtype.type(weight)
    return part


def _word_vocabulary(pipeline):
    """The word-level vectoriser's tokenizer and vocabulary (its unigrams), if the pipeline has one."""
    steps = getattr(pipeline, "steps", None)
    if not steps or len(steps) < 2:
        return None
    middle = steps[1][1]
    candidates = [t for _, t in middle.transformer_list] if isinstance(middle, FeatureUnion) else [middle]
    for vec in candidates:
        if getattr(vec, "analyzer", None) == "word" and hasattr(vec, "vocabulary_") \
                and hasattr(vec, "build_tokenizer"):
            return vec.build_tokenizer(), vec.vocabulary_, id(vec)
    return None


def to_frame(designations: Sequence[str], descriptions: Sequence[str | None]) -> pd.DataFrame:
    return pd.DataFrame({"designation": list(designations),
                         "description": [d if d is not None else None for d in descriptions]},
                        columns=TEXT_COLUMNS)


class FastCalibratedLinear:
    """`CalibratedClassifierCV(method="sigmoid")` over linear estimators (LinearSVC, ...),
    computed as sklearn does (decision function, one sigmoid per class, normalisation, mean
    over the calibrated members) but for all classes at once: sklearn validates its input
    once per class (27 `check_array` calls per prediction), which dominated small batches."""

    def __init__(self, members, n_classes: int):
        self.members = members
        self.n_classes = n_classes

    @classmethod
    def build(cls, clf) -> FastCalibratedLinear | None:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.preprocessing import LabelEncoder

        # subclasses too: the project's CalibratedOnHoldout fits differently, predicts the same
        if not isinstance(clf, CalibratedClassifierCV):
            return None

        members = []
        for cc in getattr(clf, "calibrated_classifiers_", []):
            est = cc.estimator
            coef, intercept = getattr(est, "coef_", None), getattr(est, "intercept_", None)
            n_classes = cc.classes.shape[0]
            if (cc.method != "sigmoid" or n_classes <= 2 or not isinstance(coef, np.ndarray)
                    or coef.ndim != 2 or intercept is None
                    or not all(hasattr(c, "a_") and hasattr(c, "b_") for c in cc.calibrators)):
                return None
            pos = LabelEncoder().fit(cc.classes).transform(est.classes_)
            k = min(len(pos), coef.shape[0], len(cc.calibrators))
            members.append((np.asfortranarray(coef).T, np.asarray(intercept), pos[:k],
                            np.array([c.a_ for c in cc.calibrators[:k]], dtype=np.float64),
                            np.array([c.b_ for c in cc.calibrators[:k]], dtype=np.float64),
                            n_classes, k))
        return cls(members, clf.classes_.shape[0]) if members else None

    def predict_proba(self, X) -> np.ndarray:
        from scipy.special import expit

        n = X.shape[0]
        mean = np.zeros((n, self.n_classes))
        for coef_t, intercept, pos, a, b, n_classes, k in self.members:
            scores = np.asarray(X @ coef_t) + intercept
            proba = np.zeros((n, n_classes))
            proba[:, pos] = expit(-(a * scores[:, :k] + b))
            denominator = np.sum(proba, axis=1)[:, np.newaxis]
            uniform = np.full_like(proba, 1 / n_classes)
            proba = np.divide(proba, denominator, out=uniform, where=denominator != 0)
            proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
            mean += proba
        mean /= len(self.members)
        return mean


def _lean_classifier(clf):
    """The project's softmax linear models (`SoftmaxOnHoldout`, the default, and
    `SoftmaxLinearEnsemble`) predict with one sparse product and a softmax, no input
    validation: they are their own fast path."""
    from rakuten_assets.core.model import SoftmaxLinear

    return clf if isinstance(clf, SoftmaxLinear) else None


def _direct_text_step(step):
    """The project's `ProductText` step as a function of two lists (no DataFrame)."""
    if type(step).__name__ != "ProductText" or type(step).__module__ != "rakuten_assets.core.model":
        return None
    from rakuten_assets.core.text import join_fields

    def text(designations, descriptions):
        return [join_fields(t, d) for t, d in zip(designations, descriptions)]

    return text


class Predictor:
    """A loaded pipeline made fast, plus what turning probabilities into answers needs.

    Each fast part (direct text step, fast TF-IDF counting, fast calibrated classifier) is
    used only if the probabilities it gives on sample rows equal the pipeline's own; otherwise
    it is dropped, down to the plain `pipeline.predict_proba`. `describe()` says which path the
    model runs on (`fast`, `partial` or `sklearn`) and why each part it lacks is missing."""

    def __init__(self, pipeline, *, optimise: bool = True, sample_designations=None,
                 sample_descriptions=None):
        self.pipeline = pipeline
        self.classes = np.asarray(pipeline.classes_).astype(np.int64)
        self.class_list = [int(c) for c in self.classes]
        self.names = [category_name(c) for c in self.class_list]
        self.k = min(TOP_K, len(self.classes))
        self.optimised = 0
        self.fast = False
        self.fast_vectorizers: dict[int, FastTfidf] = {}
        # one chunk cache for the fast vectorizers that read the cleaned texts (featurize.py)
        self.chunks: ChunkCache | None = None
        self.fast_classifier = None
        self.text_fn = None
        self.vectorizers = 0  # TF-IDF vectorisers in the pipeline (fast or not)
        # (tokenizer, vocabulary, id) of the word vectoriser: which words the model knows
        self.word_vocabulary = _word_vocabulary(pipeline)
        self.fallbacks: list[str] = []  # why a fast part is not used, in words
        if optimise:
            self._optimise(list(sample_designations or []), list(sample_descriptions or []))

    def _optimise(self, more_designations, more_descriptions) -> None:
        designations = [d for d, _ in _SAMPLE] + more_designations
        descriptions = [d for _, d in _SAMPLE] + more_descriptions
        pipeline = self.pipeline
        before = np.asarray(pipeline.predict_proba(to_frame(designations, descriptions)))
        self.optimised = optimise_linear_models(pipeline)
        steps = getattr(pipeline, "steps", None)
        if not steps:
            return
        self.fast = True
        self.text_fn = _direct_text_step(steps[0][1]) if len(steps) >= 2 else None
        if self.text_fn is None:
            self.fallbacks.append(f"text step {type(steps[0][1]).__name__} is not the project's "
                                  "ProductText: run through its own transform")
        self.fast_vectorizers = self._fast_vectorizers(designations, descriptions)
        self.chunks = self._shared_chunks()
        if len(self.fast_vectorizers) < self.vectorizers:
            self.fallbacks.append(f"{self.vectorizers - len(self.fast_vectorizers)} of "
                                  f"{self.vectorizers} vectorisers use scikit-learn's transform "
                                  "(not supported by the fast counting, or not identical on the "
                                  "sample rows)")
        self.fast_classifier = (_lean_classifier(steps[-1][1])
                                or FastCalibratedLinear.build(steps[-1][1]))
        if self.fast_classifier is None:
            self.fallbacks.append(f"classifier {type(steps[-1][1]).__name__} is neither the "
                                  "project's softmax linear model nor a sigmoid-calibrated "
                                  "linear model: scikit-learn's predict_proba")

        def same() -> bool:
            after = self.predict_proba(designations, descriptions)
            # float32 models sum in float32: the same sparse row in another index order (the
            # fast counting sorts indices) moves probabilities by ~1e-7, nothing more
            return after.shape == before.shape and np.allclose(before, after, rtol=1e-5,
                                                                 atol=1e-6)

        for drop in ("fast_classifier", "chunks", "fast_vectorizers", "text_fn"):
            if same():
                return
            if getattr(self, drop):
                self.fallbacks.append(f"{drop} dropped: with it the probabilities on the sample "
                                      "rows differed from the pipeline's own")
            if drop == "chunks" and self.chunks is not None:
                for f in self.fast_vectorizers.values():  # back to a cache of their own
                    if f.chunks is self.chunks:
                        f.share(ChunkCache())
            setattr(self, drop, {} if drop == "fast_vectorizers" else None)
        if not same():
            self.fast = False
            self.fallbacks.append("every fast part dropped: the plain pipeline.predict_proba serves")
            if not same():
                raise RuntimeError("the optimised model does not reproduce the original "
                                   "probabilities")

    @property
    def path(self) -> str:
        """`fast`: every step on the fast path; `sklearn`: none; `partial`: some."""
        if not self.fast:
            return "sklearn"
        parts = [self.text_fn is not None, self.fast_classifier is not None,
                 len(self.fast_vectorizers) == self.vectorizers]
        if all(parts):
            return "fast"
        return "partial" if any(parts) or self.fast_vectorizers else "sklearn"

    def describe(self) -> dict:
        return {"path": self.path, "linear_models": self.optimised,
                "text_step": self.text_fn is not None,
                "fast_vectorizers": len(self.fast_vectorizers), "vectorizers": self.vectorizers,
                "fast_classifier": self.fast_classifier is not None,
                "shared_chunk_cache": self.chunks is not None,
                "chunk_caches": self.chunk_cache_stats(),
                "fallbacks": list(self.fallbacks)}

    def chunk_cache_stats(self) -> list[dict]:
        """Size and hit rate of each chunk cache the fast vectorizers use."""
        caches = {id(f.chunks): f.chunks for f in self.fast_vectorizers.values() if f.chunks is not None}
        return [c.stats() for c in caches.values()]

    def _fast_vectorizers(self, designations, descriptions) -> dict[int, FastTfidf]:
        """FastTfidf for every TF-IDF vectoriser that feeds on the text step's output and gives
        scikit-learn's exact result on the sample texts."""
        steps = getattr(self.pipeline, "steps", None)
        if not steps or len(steps) < 3:
            return {}
        candidates = [steps[1][1]]
        if isinstance(steps[1][1], FeatureUnion):
            candidates = [t for _, t in steps[1][1].transformer_list]
        self.vectorizers = sum(1 for v in candidates if hasattr(v, "vocabulary_"))
        try:
            docs = list(steps[0][1].transform(to_frame(designations, descriptions)))
        except Exception:
            return {}
        if not all(isinstance(d, str) for d in docs):
            return {}
        out = {}
        for vec in candidates:
            if FastTfidf.supports(vec):
                try:
                    fast = FastTfidf(vec)
                    if fast.check(docs):
                        out[id(vec)] = fast
                except Exception:
                    continue
        return out

    def _shared_chunks(self) -> ChunkCache | None:
        """One chunk cache for the vectorizers of the served pipeline's union (`_raw_chunks_union`):
        the texts' raw chunks are found, folded and looked up once for all of them. Folding
        lower-cases, so a vectorizer that lower-cases sees the same chunks as one that does not
        (lower-casing is idempotent, every code point checked)."""
        union = self._raw_chunks_union()
        if union is None:
            return None
        shared = ChunkCache()
        for _, t in union.transformer_list:
            self.fast_vectorizers[id(t)].share(shared)
        return shared

    def _raw_chunks_union(self) -> FeatureUnion | None:
        """The FeatureUnion that can be fed from the texts' raw chunks: the pipeline is
        the project's text step, then a union whose every part is a fast vectorizer with a
        chunk cache and no preprocessing beyond lower-casing, then the classifier (the served
        model); else None."""
        steps = getattr(self.pipeline, "steps", None)
        if self.text_fn is None or not steps or len(steps) != 3:
            return None
        union = steps[1][1]
        if not (isinstance(union, FeatureUnion) and union.n_jobs in (None, 1)):
            return None
        parts = [self.fast_vectorizers.get(id(t)) for _, t in union.transformer_list]
        if not parts or not all(f is not None and f.chunks is not None and f.preprocess_is_lowercase
                                for f in parts):
            return None
        return union

    def _features_from_raw_chunks(self, union: FeatureUnion, designations, descriptions):
        """The union's features and the known-word shares, from the texts' raw chunks: the
        chunk cache folds (accents, case) each distinct raw chunk once and finds it by its hash
        afterwards, and the cleaned texts are never built as strings (issue 14)."""
        located = self.chunks.locate_raw(markup_free_texts(designations, descriptions), fold_words)
        known = None
        word_id = self.word_vocabulary[2] if self.word_vocabulary else None
        weights = union.transformer_weights or {}
        parts = []
        for name, t in union.transformer_list:
            fast = self.fast_vectorizers[id(t)]
            if id(t) == word_id:
                out, known = fast.transform_with_shares(None, located)
            else:
                out = fast.transform(None, located)
            parts.append(weighted(out, weights.get(name)))
        return sp.hstack(parts, format="csr"), known

    def predict_proba(self, designations: Sequence[str],
                      descriptions: Sequence[str | None]) -> np.ndarray:
        return self._proba_and_texts(designations, descriptions)[0]

    def _proba_and_texts(self, designations, descriptions):
        """The probabilities, the cleaned texts when the fast path computed them, and the
        known-word shares when the fast word vectoriser computed them (else None)."""
        steps = getattr(self.pipeline, "steps", None)
        if not self.fast or not steps:
            return np.asarray(self.pipeline.predict_proba(to_frame(designations, descriptions))), None, None
        texts = None
        if self.chunks is not None:  # the served model: raw chunks straight into the shared cache
            X, known = self._features_from_raw_chunks(steps[1][1], designations, descriptions)
            classifier = self.fast_classifier or steps[-1][1]
            return np.asarray(classifier.predict_proba(X)), None, known
        if self.text_fn is not None:
            X = texts = self.text_fn(designations, descriptions)
            middle = steps[1:-1]
        else:
            X = to_frame(designations, descriptions)
            middle = steps[:-1]
        # the word vectoriser's known-word shares, from its own tokenisation (cleaned texts only)
        shares = {self.word_vocabulary[2]: None} if texts is not None and self.word_vocabulary else {}
        for _, step in middle:
            if step is None or isinstance(step, str):
                continue
            X = _transform(step, X, self.fast_vectorizers, shares)
        classifier = self.fast_classifier or steps[-1][1]
        known = next(iter(shares.values()), None)
        return np.asarray(classifier.predict_proba(X)), texts, known

    def known_word_shares(self, texts: list[str] | None) -> list[float | None]:
        """Per cleaned text, the share of its words (as the word vectoriser splits them) that the
        vectoriser's vocabulary holds; None without a word vectoriser or cleaned texts. A text
        with no word at all knows nothing: 0.0."""
        if texts is None or self.word_vocabulary is None:
            return [None] * (0 if texts is None else len(texts))
        tokenize, vocabulary, _ = self.word_vocabulary
        out = []
        for text in texts:
            words = tokenize(text)
            out.append(sum(w in vocabulary for w in words) / len(words) if words else 0.0)
        return out

    def predict(self, designations: Sequence[str], descriptions: Sequence[str | None]):
        """For each row: (code, category, confidence, top-k list of dicts, known word share or
        None)."""
        proba, texts, known = self._proba_and_texts(designations, descriptions)
        if known is not None:
            shares = known.tolist()
        else:
            shares = self.known_word_shares(texts) if texts is not None else [None] * len(proba)
        n, n_classes = proba.shape
        k = self.k
        if k < n_classes:
            part = np.argpartition(-proba, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(n_classes), (n, n_classes))
        rows = np.arange(n)[:, None]
        order = np.argsort(-proba[rows, part], axis=1, kind="stable")
        top = part[rows, order]
        top_p = proba[rows, top].tolist()
        top = top.tolist()
        classes, names = self.class_list, self.names
        out = []
        for idx, ps, share in zip(top, top_p, shares):
            entries = [{"prdtypecode": classes[i], "category": names[i], "probability": p}
                       for i, p in zip(idx, ps)]
            best = idx[0]
            out.append((classes[best], names[best], ps[0], entries, share))
        return out
