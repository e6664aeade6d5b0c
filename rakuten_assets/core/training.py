"""Training, evaluation and model logging, without Dagster: the assets call these, and so can a
notebook or a test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, f1_score

from rakuten_assets.core.categories import CODES, category_name, is_known_code
from rakuten_assets.core.text import clean_text

TEXT_COLUMNS = ["designation", "description"]
# What the logged model needs to run elsewhere; resolving the live environment instead costs
# MLflow several seconds per log_model call.
_REQUIRED_PACKAGES = ("scikit-learn", "pandas", "numpy", "scipy", "cloudpickle")


def pip_requirements() -> list[str]:
    reqs = []
    for package in _REQUIRED_PACKAGES:
        try:
            reqs.append(f"{package}=={importlib_metadata.version(package)}")
        except importlib_metadata.PackageNotFoundError:
            reqs.append(package)
    return reqs


# --- the dataset snapshot ------------------------------------------------------------------------
def dataset_version(frame: pd.DataFrame) -> str:
    """Content hash of (productid, text, label): the same rows give the same version anywhere."""
    digest = hashlib.sha256()
    ordered = frame.sort_values("productid")
    for column in ("productid", "designation", "description", "prdtypecode"):
        digest.update(pd.util.hash_pandas_object(ordered[column].astype(str), index=False).values.tobytes())
    return f"{len(frame)}-{digest.hexdigest()[:12]}"


def _unit_hash(productids: pd.Series, seed: int) -> np.ndarray:
    hashed = pd.util.hash_pandas_object(productids.astype("int64"), index=False,
                                        hash_key=f"rakuten-split-{seed:08d}"[:16])
    return hashed.to_numpy(dtype=np.uint64) / np.float64(2**64)


def split_train_test(frame: pd.DataFrame, test_size: float, seed: int) -> pd.DataFrame:
    """Adds a `split` column ("train"/"test").

    Each product's side comes from a hash of its id, so a product keeps its side as the store
    grows: a champion trained on yesterday's train rows is never scored on them as today's test
    rows, which would flatter it in the promotion comparison. Within every class that gives the
    test share in expectation (stratified by construction); a class too small to have drawn a
    test row gets its lowest-hash row moved to test so every class is scored.
    """
    out = frame.copy()
    u = _unit_hash(out["productid"], seed)
    out["split"] = np.where(u < test_size, "test", "train")
    out["_u"] = u
    for code, group in out.groupby("prdtypecode"):
        if len(group) >= 2 and not (group["split"] == "test").any():
            out.loc[group["_u"].idxmin(), "split"] = "test"
        if len(group) >= 2 and not (group["split"] == "train").any():
            out.loc[group["_u"].idxmax(), "split"] = "train"
    return out.drop(columns="_u")


def data_quality_problems(frame: pd.DataFrame) -> list[str]:
    """What makes a snapshot unfit to train on; empty when it is fine."""
    problems = []
    empty = frame["designation"].map(clean_text).eq("")
    if empty.any():
        problems.append(f"{int(empty.sum())} rows have no title text once cleaned")
    unknown = ~frame["prdtypecode"].map(is_known_code)
    if unknown.any():
        problems.append(f"{int(unknown.sum())} rows have codes outside the 27 known ones: "
                        f"{sorted(frame.loc[unknown, 'prdtypecode'].unique().tolist())[:10]}")
    for side in ("train", "test"):
        present = set(frame.loc[frame["split"] == side, "prdtypecode"].astype(int))
        missing = sorted(set(CODES) - present)
        if missing:
            problems.append(f"{len(missing)} classes absent from the {side} split: {missing}")
    return problems


# --- evaluation --------------------------------------------------------------------------------
@dataclass
class Evaluation:
    weighted_f1: float
    macro_f1: float
    accuracy: float
    per_class_f1: dict[int, float]
    support: dict[int, int]

    def metrics(self, prefix: str = "test_") -> dict[str, float]:
        out = {f"{prefix}weighted_f1": self.weighted_f1, f"{prefix}macro_f1": self.macro_f1,
               f"{prefix}accuracy": self.accuracy}
        out.update({f"{prefix}f1_{code}": f1 for code, f1 in self.per_class_f1.items()})
        return out

    def per_class_markdown(self) -> str:
        lines = ["| code | category | F1 | test rows |", "|---:|---|---:|---:|"]
        for code in sorted(self.per_class_f1, key=self.per_class_f1.get):
            lines.append(f"| {code} | {category_name(code)} | {self.per_class_f1[code]:.3f} | "
                         f"{self.support.get(code, 0)} |")
        return "\n".join(lines)


def evaluate(y_true, y_pred) -> Evaluation:
    y_true = np.asarray(y_true).astype(int)
    y_pred = np.asarray(y_pred).astype(int)
    labels = sorted(set(y_true))
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    support = pd.Series(y_true).value_counts()
    return Evaluation(
        weighted_f1=float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
        macro_f1=float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        accuracy=float((y_true == y_pred).mean()),
        per_class_f1={int(c): float(f) for c, f in zip(labels, per_class)},
        support={int(c): int(n) for c, n in support.items()},
    )


def plot_confusion_matrix(y_true, y_pred, path: Path, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")  # no display here, and no Tk in worker processes
    import matplotlib.pyplot as plt

    labels = list(CODES)
    matrix = confusion_matrix(np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int),
                              labels=labels).astype(float)
    # Row-normalised: with class sizes from 764 to 10,209 raw counts hide the small classes.
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    fig, ax = plt.subplots(figsize=(11, 10), dpi=90)
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), [str(c) for c in labels], rotation=90, fontsize=8)
    # The last part of the name ("Consoles", not "Video Games & Consoles > Con"): 27 rows stay readable.
    ax.set_yticks(range(len(labels)), [f"{c} {category_name(c).split(' > ')[-1][:30]}" for c in labels], fontsize=8)
    ax.set_xlabel("predicted prdtypecode")
    ax.set_ylabel("true prdtypecode")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.04, label="share of the true class")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# --- logging the model ----------------------------------------------------------------------------
def model_signature():
    from mlflow.models import infer_signature
    from mlflow.models.signature import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([ColSpec("string", "designation"),
                     ColSpec("string", "description", required=False)])
    outputs = infer_signature(None, np.array([10])).outputs
    return ModelSignature(inputs=inputs, outputs=outputs)


def log_model(pipeline, *, registered_model_name: str, input_example: pd.DataFrame):
    """Log the whole pipeline (cleaning included) and register it; returns the ModelVersion
    info MLflow hands back. cloudpickle: skops' save time grows about quadratically with the
    TF-IDF vocabulary (minutes at 200k words), cloudpickle takes about a second."""
    import mlflow.sklearn

    info = mlflow.sklearn.log_model(
        pipeline, name="model", serialization_format="cloudpickle",
        signature=model_signature(), input_example=input_example,
        pip_requirements=pip_requirements(), registered_model_name=registered_model_name,
        pyfunc_predict_fn="predict",
    )
    return info


# --- the drift reference, kept with the model ------------------------------------------------------
REFERENCE_ARTIFACT_DIR = "reference"
REFERENCE_FILE = "reference.parquet"


def reference_sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """What a drift report compares traffic with: a sample of the champion's own training
    snapshot, with its split (the drift report measures vocabulary signals on test rows only,
    which the vectoriser never saw). Kept as an artifact of the model's MLflow run, so it is the
    reference of exactly this model, wherever the report runs."""
    columns = ["productid", "designation", "description", "prdtypecode", "split"]
    sample = frame[columns] if len(frame) <= rows else frame[columns].sample(rows, random_state=seed)
    return sample.reset_index(drop=True)


def log_reference(frame: pd.DataFrame, folder: Path) -> Path:
    """Writes the reference where the caller logs it from (an MLflow artifact directory)."""
    path = folder / REFERENCE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def load_reference(run_id: str, tracking_uri: str) -> pd.DataFrame:
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"{REFERENCE_ARTIFACT_DIR}/{REFERENCE_FILE}",
                                                tracking_uri=tracking_uri)
    return pd.read_parquet(local)
