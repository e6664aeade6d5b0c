"""The served model's hot path: texts in, probabilities and top-k out, vectorised.

Measured (py-spy) on the TF-IDF + linear pipeline: a one-row `predict_proba` spent almost all
of its ~20-30 ms in the classifier's `X @ coef_.T`: `coef_` is a C-ordered 27 x N matrix, so
its transpose is F-ordered and scipy copies the whole N x 27 matrix to C order on every call.
Storing `coef_` in Fortran order makes `coef_.T` C-contiguous: the product then costs
microseconds and gives the same numbers. `optimise_linear_models` does that once at load, for
every fitted estimator in the pipeline that has a 2-D `coef_` (nested ones too), and the
predictor checks on sample rows that the probabilities did not change.

The pipeline steps are called one after the other on a DataFrame of the two text columns;
top-k uses `argpartition` over the probability matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

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
    """Store every 2-D `coef_` in Fortran order (see the module docstring); returns how many."""
    changed = 0
    for est in _estimators(pipeline):
        coef = getattr(est, "coef_", None)
        if isinstance(coef, np.ndarray) and coef.ndim == 2 and not coef.flags.f_contiguous:
            try:
                est.coef_ = np.asfortranarray(coef)
                changed += 1
            except AttributeError:  # a read-only property on some estimator
                pass
    return changed


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
        if optimise:
            frame = to_frame([d for d, _ in _SAMPLE], [d for _, d in _SAMPLE])
            before = pipeline.predict_proba(frame)
            self.optimised = optimise_linear_models(pipeline)
            after = self.predict_proba([d for d, _ in _SAMPLE], [d for _, d in _SAMPLE])
            if not np.allclose(before, after, rtol=1e-6, atol=1e-9):
                raise RuntimeError("the optimised model does not reproduce the original "
                                   "probabilities")

    def predict_proba(self, designations: Sequence[str],
                      descriptions: Sequence[str | None]) -> np.ndarray:
        return np.asarray(self.pipeline.predict_proba(to_frame(designations, descriptions)))

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
