"""Batch prediction of an uploaded CSV through the API's /predict/batch.

Accepted: the official format (`X_test_update.csv`: unnamed index column, designation,
description, productid, imageid) or any CSV with a `designation` column (and optionally
`description`). Rows the API would refuse (empty title, text over the API's limit) are kept in
the result with the reason instead of a prediction: nothing is dropped silently.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gradio_hub.clients.api import ApiClient
from gradio_hub.common import ServiceError, scratch_dir, write_csv
from rakuten_assets.core.settings import Settings

# Below this share of known words an answer is a guess (text of a kind the model never saw); the
# single prediction and the batch warn at the same threshold.
LOW_KNOWN_SHARE = 0.5


class BadUpload(ValueError):
    """The file cannot be used; the message is for the user."""


@dataclass
class BatchOutcome:
    frame: pd.DataFrame
    path: Path
    predicted: int
    skipped: int
    model_versions: list[str]

    def summary(self) -> str:
        versions = ", ".join(f"v{v}" for v in self.model_versions) or "none"
        text = f"Predicted {self.predicted} of {len(self.frame)} rows (model {versions})."
        if self.skipped:
            reasons = self.frame.loc[self.frame["status"] != "ok", "status"].value_counts()
            text += " Not predicted: " + ", ".join(f"{n} {why}" for why, n in reasons.items()) + "."
        return text

    @property
    def barely_known(self) -> int:
        """Predicted rows whose words the model mostly does not know."""
        shares = pd.to_numeric(self.frame["known_word_share"], errors="coerce")
        return int((shares < LOW_KNOWN_SHARE).sum())

    def known_words_warning(self) -> str:
        """A sentence when some answers are guesses, else ''."""
        n = self.barely_known
        if not n:
            return ""
        rows = "row" if self.predicted == 1 else "rows"
        return (f"The model knows under {100 * LOW_KNOWN_SHARE:.0f}% of the words of {n} of the "
                f"{self.predicted} predicted {rows} (column known_word_share): text of a kind it never "
                "saw, so those answers say little. Labels for them (Review tab) teach the next model.")


def read_upload(path: str | Path, max_rows: int) -> pd.DataFrame:
    path = Path(path)
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except UnicodeDecodeError as exc:
        raise BadUpload(f"{path.name} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None
    except (OSError, csv.Error) as exc:
        raise BadUpload(f"{path.name} cannot be read as CSV: {exc}") from None
    if not header:
        raise BadUpload(f"{path.name} is empty")
    official = header[0].strip() == ""  # the challenge files' unnamed index column
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                            index_col=0 if official else None, nrows=max_rows + 1)
    except UnicodeDecodeError as exc:
        raise BadUpload(f"{path.name} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise BadUpload(f"{path.name} is not a readable CSV: {str(exc).strip()[:200]}") from None
    if "designation" not in frame.columns:
        raise BadUpload(f"{path.name} has no `designation` column; expected the official format "
                        "(X_test_update.csv: unnamed index, designation, description, productid, "
                        f"imageid) or a CSV with designation[,description]. Columns found: "
                        f"{', '.join(map(str, frame.columns[:10]))}")
    if len(frame) > max_rows:
        raise BadUpload(f"{path.name} has more than {max_rows} rows (RAKUTEN_HUB_BATCH_MAX_ROWS); "
                        "split it or use the API's /predict/batch directly")
    if frame.empty:
        raise BadUpload(f"{path.name} has a header but no rows")
    if "description" not in frame.columns:
        frame["description"] = ""
    if official:
        frame.index.name = "row"  # the challenge's row number, kept so results can be matched
        return frame.reset_index()
    return frame.reset_index(drop=True)


def predict_frame(frame: pd.DataFrame, client: ApiClient, settings: Settings,
                  progress=None) -> BatchOutcome:
    limit = settings.api_max_text_chars
    status = []
    for title, text in zip(frame["designation"], frame["description"]):
        if not str(title).strip():
            status.append("empty designation")
        elif len(str(title)) > limit or len(str(text)) > limit:
            status.append(f"text over {limit} characters")
        else:
            status.append("ok")
    out = frame.copy()
    out["status"] = status
    out["prdtypecode"] = pd.Series([None] * len(out), dtype="object")
    out["category"] = ""
    out["confidence"] = pd.Series([None] * len(out), dtype="object")
    out["model_version"] = ""
    out["known_word_share"] = pd.Series([None] * len(out), dtype="object")
    todo = [i for i, s in enumerate(status) if s == "ok"]
    size = max(1, settings.api_max_batch)
    versions: set[str] = set()
    for done, start in enumerate(range(0, len(todo), size)):
        chunk = todo[start:start + size]
        if progress is not None:
            progress(start / max(1, len(todo)), desc=f"Predicting rows {start + 1}-{start + len(chunk)} "
                                                     f"of {len(todo)}")
        items = [{"designation": str(out.at[i, "designation"]),
                  "description": str(out.at[i, "description"]) or None} for i in chunk]
        try:
            answer = client.predict_batch(items)
        except ServiceError as exc:  # the API refused this chunk: say so on its rows, go on
            for i in chunk:
                out.at[i, "status"] = f"refused by the API: {exc.message[:120]}"
            continue
        for i, pred in zip(chunk, answer["predictions"]):
            out.at[i, "prdtypecode"] = int(pred["prdtypecode"])
            out.at[i, "category"] = pred["category"]
            out.at[i, "confidence"] = round(float(pred["confidence"]), 4)
            out.at[i, "model_version"] = str(pred["model_version"])
            known = pred.get("known_word_share")  # null when the model has no word vocabulary
            out.at[i, "known_word_share"] = None if known is None else round(float(known), 2)
            versions.add(str(pred["model_version"]))
    folder = Path(tempfile.mkdtemp(prefix="batch-", dir=scratch_dir()))
    path = folder / "predictions.csv"
    # Uploaded text goes back to people who open it in a spreadsheet: formula cells neutralised
    # (issue 13 found `=HYPERLINK(...)`, `@SUM`, `+1+1` written unchanged).
    write_csv(out, path)
    predicted = int((out["status"] == "ok").sum())
    return BatchOutcome(out, path, predicted, len(out) - predicted, sorted(versions, key=str))
