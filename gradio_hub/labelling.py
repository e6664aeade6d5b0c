"""Labelling from the hub, without Gradio: what a typed answer means (a code or words of a
category name), importing labels from a CSV through the API's /feedback/batch, and exporting them.

Every label goes through the API's feedback endpoint, the same path as any client's, so the store,
the metrics and the loop see hub labels exactly as others."""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gradio_hub.clients.api import ApiClient
from gradio_hub.common import ServiceError, scratch_dir, write_csv
from rakuten_assets.core.categories import CODES, category_name, category_name_fr
from rakuten_assets.core.feedback import parse_label_rows
from rakuten_assets.core.text import clean_text

IMPORT_CHUNK = 1_000


def category_choices() -> list[tuple[str, int]]:
    """(label shown, code) for every class, in code order."""
    return [(f"{code} · {category_name(code)} · {category_name_fr(code).split(' > ')[-1]}", code)
            for code in CODES]


def resolve_label(typed: str) -> tuple[int | None, list[int]]:
    """A typed answer -> (the code, []) when it names exactly one class (its code, or words that
    each begin a word of its English or French name), else (None, the candidates)."""
    text = (typed or "").strip()
    if not text:
        return None, []
    if text.isdigit():
        code = int(text)
        return (code, []) if code in CODES else (None, [])
    words = clean_text(text).split()

    def names(code: int) -> bool:  # every typed word starts a word of the English or French name
        return any(all(any(n.startswith(w) for n in clean_text(name).split()) for w in words)
                   for name in (category_name(code), category_name_fr(code)))

    matches = [code for code in CODES if names(code)]
    return (matches[0], []) if len(matches) == 1 else (None, matches)


@dataclass
class ImportOutcome:
    rows: int
    stored: int = 0
    unchanged: int = 0
    replaced: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # reason -> rows

    def summary(self) -> str:
        text = (f"{self.rows} rows read: {self.stored} labels stored, {self.replaced} replaced, "
                f"{self.unchanged} unchanged")
        if self.refused:
            text += "; not stored: " + ", ".join(f"{n} {why}" for why, n in sorted(self.refused.items()))
        return text + "."


def read_label_csv(path: str | Path) -> list[dict]:
    path = Path(path)
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except UnicodeDecodeError:
        raise ServiceError("Import", f"{path.name} is not UTF-8 text") from None
    except csv.Error as exc:
        raise ServiceError("Import", f"{path.name} is not a readable CSV: {exc}") from None
    if not rows or not {"prediction_id", "prdtypecode"} <= set(rows[0]):
        raise ServiceError("Import", f"{path.name} needs the columns prediction_id and prdtypecode "
                           "(an export from this tab has them)")
    return rows


def import_labels(api: ApiClient, path: str | Path) -> ImportOutcome:
    """Post the file's labels in chunks; a chunk with ids the log does not know is posted again
    without them (they are reported), so one bad row never loses the others."""
    rows = read_label_csv(path)
    items, problems = parse_label_rows(rows)
    outcome = ImportOutcome(rows=len(rows))
    for why in problems.values():
        outcome.refused[why] = outcome.refused.get(why, 0) + 1
    for start in range(0, len(items), IMPORT_CHUNK):
        chunk = [{"prediction_id": i.prediction_id, "prdtypecode": i.prdtypecode}
                 for i in items[start:start + IMPORT_CHUNK]]
        while chunk:
            try:
                answer = api.feedback_batch(chunk)
            except ServiceError as exc:
                bad = _refused_ids(exc)
                if not bad:
                    raise
                for why in bad.values():
                    outcome.refused[why] = outcome.refused.get(why, 0) + 1
                chunk = [c for c in chunk if c["prediction_id"] not in bad]
                continue
            outcome.stored += answer["stored"]
            outcome.unchanged += answer["unchanged"]
            outcome.replaced += answer["replaced"]
            break
    return outcome


def _refused_ids(exc: ServiceError) -> dict[str, str]:
    """The ids a refused /feedback/batch named (404 unknown ids, 422 texts without words)."""
    detail = getattr(exc, "detail", None)
    if exc.status not in (404, 422) or not isinstance(detail, list):
        return {}
    return {d["prediction_id"]: d.get("problem", "refused") for d in detail
            if isinstance(d, dict) and "prediction_id" in d}


def export_labels_csv(frame: pd.DataFrame) -> Path:
    """The labels as a CSV in the hub's scratch folder (formula-like cells neutralised)."""
    folder = Path(tempfile.mkdtemp(prefix="labels-", dir=scratch_dir()))
    return write_csv(frame, folder / "rakuten-labels.csv")
