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

from rakuten_assets.categories import category_name

TOP_K = 5
TEXT_COLUMNS = ["designation", "description"]

_SAMPLE = [
    ("Lot de 3 figurines Pokémon Pikachu", "<p>Figurines en plastique, hauteur 5 cm.</p>"),
    ("Jeu PS4 FIFA 19", None),
    ("Piscine tubulaire ronde 3,66 x 0,76 m", "Pompe de filtration incluse &amp; bâche"),
    ("Coussin décoratif en coton 45x45", ""),
    ("Harry Potter à l'école des sorciers - livre de poche", "Roman jeunesse"),
]


def _estimators(obj, depth: int = 0):
    """Every estimator reachable from `obj` (pipelines, unions, meta-estimators)."""
    if depth > 6 or obj is None:
        return
    yield obj
    children = []
    for attr in ("steps", "transformer_list", "transformers_", "estimators_",
                 "calibrated_classifiers_"):
        value = getattr(obj, attr, None)
        if isinstance(value, list):
            for entry in value:
                children.append(entry[1] if isinstance(entry, tuple) and len(entry) >= 2 else entry)
    for attr in ("estimator", "base_estimator", "final_estimator_", "classifier"):
        value = getattr(obj, attr, None)
        if value is not None and hasattr(value, "get_params"):
            children.append(value)
    for child in children:
        if hasattr(child, "get_params") or hasattr(child, "estimator"):
            yield from _estimators(child, depth + 1)


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


def _transform(step, X):
    """`step.transform(X)`, minus joblib's per-call set-up for a sequential FeatureUnion."""
    if (isinstance(step, FeatureUnion) and step.n_jobs in (None, 1)
            and not step.transformer_weights):
        parts = [t.transform(X) for _, t in step.transformer_list
                 if t is not None and t not in ("drop", "passthrough")]
        if parts and all(sp.issparse(p) for p in parts):
            return sp.hstack(parts, format="csr")
        return step.transform(X)
    return step.transform(X)


def to_frame(designations: Sequence[str], descriptions: Sequence[str | None]) -> pd.DataFrame:
    return pd.DataFrame({"designation": list(designations),
                         "description": [d if d is not None else None for d in descriptions]},
                        columns=TEXT_COLUMNS)


class Predictor:
    """A loaded pipeline made fast, plus what turning probabilities into answers needs."""

    def __init__(self, pipeline, *, optimise: bool = True):
        self.pipeline = pipeline
        self.classes = np.asarray(pipeline.classes_).astype(np.int64)
        self.class_list = [int(c) for c in self.classes]
        self.names = [category_name(c) for c in self.class_list]
        self.k = min(TOP_K, len(self.classes))
        self.optimised = 0
        self.fast = False
        if optimise:
            designations, descriptions = [d for d, _ in _SAMPLE], [d for _, d in _SAMPLE]
            before = np.asarray(pipeline.predict_proba(to_frame(designations, descriptions)))
            self.optimised = optimise_linear_models(pipeline)
            self.fast = True
            after = self.predict_proba(designations, descriptions)
            if not np.allclose(before, after, rtol=1e-6, atol=1e-9):
                self.fast = False
                after = self.predict_proba(designations, descriptions)
                if not np.allclose(before, after, rtol=1e-6, atol=1e-9):
                    raise RuntimeError("the optimised model does not reproduce the original "
                                       "probabilities")

    def predict_proba(self, designations: Sequence[str],
                      descriptions: Sequence[str | None]) -> np.ndarray:
        X = to_frame(designations, descriptions)
        steps = getattr(self.pipeline, "steps", None)
        if not self.fast or steps is None:
            return np.asarray(self.pipeline.predict_proba(X))
        for _, step in steps[:-1]:
            if step is None or step == "passthrough":
                continue
            X = _transform(step, X)
        return np.asarray(steps[-1][1].predict_proba(X))

    def predict(self, designations: Sequence[str], descriptions: Sequence[str | None]):
        """For each row: (code, category, confidence, top-k list of dicts)."""
        proba = self.predict_proba(designations, descriptions)
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
        for idx, ps in zip(top, top_p):
            entries = [{"prdtypecode": classes[i], "category": names[i], "probability": p}
                       for i, p in zip(idx, ps)]
            best = idx[0]
            out.append((classes[best], names[best], ps[0], entries))
        return out
