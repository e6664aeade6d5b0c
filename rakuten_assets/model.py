"""Where the classes of `build_classifier()` lived before they moved to `rakuten_assets.core.model`.

Models registered then are pickles that name `rakuten_assets.model.ProductText` and the rest;
this module keeps them loadable. New code imports `rakuten_assets.core.model`.
"""

from rakuten_assets.core.model import (  # noqa: F401
    CalibrationHoldout,
    CharWbTfidf,
    ColumnMajorSGDClassifier,
    ProductText,
)
