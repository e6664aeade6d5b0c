"""Fitting the featuriser of `build_classifier()` part by part, so an orchestrator can run the
parts in parallel (the `tfidf_features` asset fans them out as a dynamic Dagster graph, and
Dagster's multiprocess, Celery or Kubernetes executors spread them).

The featuriser is a `FeatureUnion` of independent vectorisers (word and character TF-IDF today):
each part is fitted on the same cleaned texts and nothing flows between parts, so fitting them in
separate processes and stacking their matrices side by side gives exactly what
`FeatureUnion.fit_transform` gives. Any other featuriser is one part. Nothing here knows which
vectorisers the model uses, so a change of `build_classifier()` needs no change here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import FeatureUnion

from rakuten_assets.core.training import TEXT_COLUMNS

WHOLE = "whole"  # the part name of a featuriser that is not a FeatureUnion


@dataclass
class CleanTexts:
    """The train and test texts as the model reads them, cleaned once for every part."""

    train: list[str]
    test: list[str]
    y_train: np.ndarray
    y_test: np.ndarray


@dataclass
class FittedPart:
    """One fitted part of the featuriser with the matrices it produced."""

    name: str
    transformer: BaseEstimator
    x_train: sp.csr_matrix
    x_test: sp.csr_matrix
    fit_seconds: float


def clean_split_texts(text_step: BaseEstimator, frame: pd.DataFrame) -> CleanTexts:
    """`frame` is a training snapshot with its `split` column."""
    train = frame[frame["split"] == "train"]
    test = frame[frame["split"] == "test"]
    return CleanTexts(train=list(text_step.transform(train[TEXT_COLUMNS])),
                      test=list(text_step.transform(test[TEXT_COLUMNS])),
                      y_train=train["prdtypecode"].to_numpy(), y_test=test["prdtypecode"].to_numpy())


def feature_parts(features: BaseEstimator) -> list[tuple[str, BaseEstimator]]:
    """(name, unfitted copy) of every part that can be fitted on its own, in stacking order.
    Dropped parts ("drop") are left out, as FeatureUnion leaves them out."""
    if isinstance(features, FeatureUnion):
        return [(name, clone(part)) for name, part in features.transformer_list
                if part is not None and not (isinstance(part, str) and part == "drop")]
    return [(WHOLE, clone(features))]


def fit_part(name: str, transformer: BaseEstimator, texts: CleanTexts) -> FittedPart:
    import time

    started = time.perf_counter()
    x_train = sp.csr_matrix(transformer.fit_transform(texts.train))
    fit_seconds = time.perf_counter() - started
    x_test = sp.csr_matrix(transformer.transform(texts.test))
    return FittedPart(name, transformer, x_train, x_test, fit_seconds)


def assemble(features: BaseEstimator, parts: list[FittedPart]) -> tuple[BaseEstimator, sp.csr_matrix, sp.csr_matrix]:
    """The fitted featuriser made of the fitted parts (in `features`' order, whatever order they
    finished in), and the train and test matrices stacked as `FeatureUnion` stacks them
    (weighted by its `transformer_weights`)."""
    by_name = {p.name: p for p in parts}
    if not isinstance(features, FeatureUnion):
        whole = by_name[WHOLE]
        return whole.transformer, whole.x_train, whole.x_test
    names = [name for name, _ in feature_parts(features)]
    missing = sorted(set(names) - set(by_name))
    if missing:
        raise ValueError(f"featuriser parts not fitted: {missing}")
    weights = features.transformer_weights or {}
    fitted = features.set_params(transformer_list=[
        (name, by_name[name].transformer if name in by_name else part)
        for name, part in features.transformer_list])

    def stack(side: str) -> sp.csr_matrix:
        blocks = []
        for name in names:
            block = getattr(by_name[name], side)
            blocks.append(block * weights[name] if name in weights else block)
        return sp.hstack(blocks, format="csr")

    return fitted, stack("x_train"), stack("x_test")
