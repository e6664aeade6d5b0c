"""`build_classifier()`: the estimator training fits and serving loads (provisional baseline;
being tuned by cross-validation in benchmarks/model_quality.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from rakuten_assets.text import join_fields


class ProductText(BaseEstimator, TransformerMixin):
    """Selects `designation` and `description` from a DataFrame and cleans them."""

    def fit(self, X, y=None):
        return self

    def transform(self, X) -> list[str]:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        titles = frame["designation"] if "designation" in frame else pd.Series([""] * len(frame))
        bodies = frame["description"] if "description" in frame else pd.Series([None] * len(frame))
        return [join_fields(t, d) for t, d in zip(titles.tolist(), bodies.tolist())]


def build_classifier(**overrides) -> Pipeline:
    features = FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=150_000,
                                  dtype=np.float32)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2,
                                  max_features=150_000, dtype=np.float32)),
    ])
    classifier = CalibratedClassifierCV(LinearSVC(C=0.5, class_weight="balanced"), cv=3, method="sigmoid",
                                        ensemble=False)
    pipeline = Pipeline([("text", ProductText()), ("features", features), ("classifier", classifier)])
    if overrides:
        pipeline.set_params(**overrides)
    return pipeline


def describe_classifier(pipeline: Pipeline) -> dict[str, str | int | float]:
    params = pipeline.get_params()
    keys = ["features__words__ngram_range", "features__words__max_features", "features__chars__ngram_range",
            "features__chars__max_features", "classifier__method", "classifier__cv"]
    return {k: str(params[k]) for k in keys if k in params}
