"""What the training assets hand each other (pickled by Dagster's IO manager between steps)."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.pipeline import FeatureUnion, Pipeline


@dataclass
class TfidfFeatures:
    """The fitted text step and vectorisers, with the train and test matrices they produced."""

    text: BaseEstimator
    features: FeatureUnion
    x_train: sp.csr_matrix
    y_train: np.ndarray
    x_test: sp.csr_matrix
    y_test: np.ndarray
    fit_seconds: float
    # What `trained_model` needs from the snapshot, so it does not load the whole snapshot again
    # (~750 MB at 850k rows) beside the matrices while the classifier fits.
    dataset_version: str = ""
    reference: pd.DataFrame | None = None       # the drift reference sample
    input_example: pd.DataFrame | None = None   # MLflow's input example


@dataclass
class TrainedModel:
    """The whole fitted pipeline and where MLflow registered it."""

    pipeline: Pipeline
    version: str
    run_id: str
    dataset_version: str


@dataclass
class ModelEvaluation:
    """The challenger's scores on the test split, beside the champion's on the same rows."""

    weighted_f1: float
    macro_f1: float
    accuracy: float
    per_class_f1: dict[int, float]
    champion_version: str | None
    champion_weighted_f1: float | None
    champion_note: str
    confusion_matrix: str
    feedback_labels: int = 0                      # feedback labels on the test side
    feedback_accuracy: float | None = None        # the challenger's accuracy on them
    champion_feedback_accuracy: float | None = None
    agreement: float | None = None                # share of recent logged traffic both answer alike
    agreement_rows: int = 0
