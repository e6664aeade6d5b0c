"""Ground truth for logged predictions: feedback labels, live quality, labelling requests and the
review queue.

A label is stored against a prediction of the inference log (its text, predicted code and model
version) and, in the same transaction, becomes one labelled product of the store: a product whose
id is derived from the prediction id (`feedback_productid`), in the day's load batch of source
`feedback`. So the next training run learns from it, `new_data_sensor` counts it, and its train/
test side is fixed like any product's (the stable id hash): a label on the test side scores the
champion and the challenger on live traffic neither trained on.

Plain SQLAlchemy on the store's engine; the API (`POST /feedback`), the hub's review queue and
the Dagster sensors and promotion all go through these functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rakuten_assets.core.categories import is_known_code
from rakuten_assets.core.store import (
    Feedback, InferenceLog, Label, LabellingRequest, LoadBatch, Product, ProductStore, utcnow,
)
from rakuten_assets.core.text import join_fields

FEEDBACK_SOURCE = "feedback"  # load_batches.source of the products labels created
# Products created by feedback get ids far above the catalogue's (official ids are ~4e9), below
# the BIGINT limit (9.22e18): 8e18 + 60 bits of the prediction id's hash.
FEEDBACK_ID_BASE = 8 * 10**18

STORED, UNCHANGED, REPLACED = "stored", "unchanged", "replaced"
REQUEST_OPEN, REQUEST_SATISFIED = "open", "satisfied"
_CHUNK = 1_000


class FeedbackRefused(ValueError):
    """Nothing was stored; `problems` maps a prediction id to why (for the caller's answer)."""

    def __init__(self, kind: str, problems: dict[str, str]):
        super().__init__(f"{kind}: " + "; ".join(f"{k}: {v}" for k, v in list(problems.items())[:5]))
        self.kind = kind
        self.problems = problems


@dataclass(frozen=True)
class FeedbackItem:
    prediction_id: str
    prdtypecode: int


@dataclass(frozen=True)
class FeedbackResult:
    prediction_id: str
    prdtypecode: int
    status: str                 # stored | unchanged | replaced
    previous_prdtypecode: int | None
    predicted_prdtypecode: int
    model_version: str
    productid: int

    @property
    def correct(self) -> bool:
        return self.prdtypecode == self.predicted_prdtypecode

    def as_dict(self) -> dict:
        return {"prediction_id": self.prediction_id, "prdtypecode": self.prdtypecode,
                "status": self.status, "previous_prdtypecode": self.previous_prdtypecode,
                "predicted_prdtypecode": self.predicted_prdtypecode, "correct": self.correct,
                "model_version": self.model_version, "productid": self.productid}


def feedback_productid(prediction_id: str) -> int:
    digest = hashlib.sha256(prediction_id.encode("utf-8")).digest()
    return FEEDBACK_ID_BASE + (int.from_bytes(digest[:8], "big") >> 4)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def record_feedback(store: ProductStore, items: Sequence[FeedbackItem], *, source: str) -> list[FeedbackResult]:
    """Store labels, all or nothing. Refused (FeedbackRefused, nothing stored) when a code is not
    one of the 27, a prediction id is not in the inference log, or a prediction's text has no words
    once cleaned (it could teach the model nothing and would fail the training data's check).
    Labels for the same prediction arriving at the same moment: the transaction that lost the race
    runs again and sees the other's label."""
    try:
        return _record_feedback(store, items, source=source)
    except IntegrityError:
        return _record_feedback(store, items, source=source)


def _record_feedback(store: ProductStore, items: Sequence[FeedbackItem], *, source: str) -> list[FeedbackResult]:
    codes = {item.prediction_id: int(item.prdtypecode) for item in items}  # the last label wins
    unknown_codes = {pid: f"unknown prdtypecode {code}" for pid, code in codes.items() if not is_known_code(code)}
    if unknown_codes:
        raise FeedbackRefused("unknown_code", unknown_codes)
    ids = list(codes)
    with Session(store.engine) as s, s.begin():
        logged = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            for row in s.execute(select(InferenceLog.prediction_id, InferenceLog.designation,
                                        InferenceLog.description, InferenceLog.prdtypecode,
                                        InferenceLog.model_version, InferenceLog.created_at)
                                 .where(InferenceLog.prediction_id.in_(chunk))):
                logged[row.prediction_id] = row
        missing = {pid: "no logged prediction has this id" for pid in ids if pid not in logged}
        if missing:
            raise FeedbackRefused("unknown_prediction", missing)
        empty = {pid: "its text has no words once cleaned" for pid in ids
                 if not join_fields(logged[pid].designation, logged[pid].description)}
        if empty:
            raise FeedbackRefused("no_text", empty)
        existing = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            existing.update({f.prediction_id: f for f in s.scalars(
                select(Feedback).where(Feedback.prediction_id.in_(chunk)))})
        now = utcnow()
        batch = None
        results = []
        for pid in ids:
            code, row = codes[pid], logged[pid]
            before = existing.get(pid)
            if before is not None:
                previous = before.prdtypecode
                status = UNCHANGED if previous == code else REPLACED
                if status == REPLACED:
                    s.execute(update(Label).where(Label.productid == before.productid).values(prdtypecode=code))
                    before.prdtypecode, before.updated_at, before.source = code, now, source
                results.append(FeedbackResult(pid, code, status, previous, row.prdtypecode,
                                              row.model_version, before.productid))
                continue
            if batch is None:
                batch = _todays_batch(s, now)
            productid = feedback_productid(pid)
            s.add(Product(productid=productid, imageid=None, designation=row.designation,
                          description=row.description, batch_id=batch.id))
            s.flush()
            s.add(Label(productid=productid, prdtypecode=code))
            s.add(Feedback(prediction_id=pid, prdtypecode=code, predicted_prdtypecode=row.prdtypecode,
                           model_version=row.model_version, predicted_at=_as_utc(row.created_at),
                           received_at=now, updated_at=now, source=source, productid=productid))
            batch.rows_offered += 1
            batch.rows_accepted += 1
            results.append(FeedbackResult(pid, code, STORED, None, row.prdtypecode, row.model_version, productid))
    return results


def _todays_batch(s: Session, now: datetime) -> LoadBatch:
    key = f"{FEEDBACK_SOURCE}:{now:%Y-%m-%d}"
    batch = s.scalars(select(LoadBatch).where(LoadBatch.batch_key == key)).first()
    if batch is None:
        try:
            with s.begin_nested():  # another request may create it at the same moment
                batch = LoadBatch(batch_key=key, source=FEEDBACK_SOURCE, loaded_at=now, rows_offered=0,
                                  rows_accepted=0, rows_rejected=0, rejections_json="{}")
                s.add(batch)
        except IntegrityError:
            batch = s.scalars(select(LoadBatch).where(LoadBatch.batch_key == key)).one()
    return batch


# --- what the labels say about the models -------------------------------------------------------
def labels_frame(store: ProductStore, *, predicted_since: datetime | None = None,
                 received_since: datetime | None = None) -> pd.DataFrame:
    """Feedback rows (prediction_id, prdtypecode, predicted_prdtypecode, model_version,
    predicted_at, received_at, source, productid)."""
    stmt = select(Feedback.prediction_id, Feedback.prdtypecode, Feedback.predicted_prdtypecode,
                  Feedback.model_version, Feedback.predicted_at, Feedback.received_at,
                  Feedback.source, Feedback.productid)
    if predicted_since is not None:
        stmt = stmt.where(Feedback.predicted_at >= predicted_since)
    if received_since is not None:
        stmt = stmt.where(Feedback.received_at > received_since)
    with store.engine.connect() as conn:
        return pd.read_sql(stmt.order_by(Feedback.received_at), conn)


def count_labels(store: ProductStore, *, predicted_since: datetime | None = None,
                 received_since: datetime | None = None) -> int:
    stmt = select(func.count()).select_from(Feedback)
    if predicted_since is not None:
        stmt = stmt.where(Feedback.predicted_at >= predicted_since)
    if received_since is not None:
        stmt = stmt.where(Feedback.received_at > received_since)
    with Session(store.engine) as s:
        return int(s.scalar(stmt) or 0)


@dataclass(frozen=True)
class LiveQuality:
    model_version: str
    labels: int
    accuracy: float
    weighted_f1: float


def live_quality(store: ProductStore, *, since: datetime | None = None) -> list[LiveQuality]:
    """Accuracy and weighted F1 of each model version on the labelled predictions it made (since
    `since`, by prediction time): how right production is on real traffic."""
    from sklearn.metrics import f1_score

    frame = labels_frame(store, predicted_since=since)
    out = []
    for version, group in frame.groupby("model_version"):
        truth, predicted = group["prdtypecode"].to_numpy(), group["predicted_prdtypecode"].to_numpy()
        out.append(LiveQuality(str(version), len(group), float(np.mean(truth == predicted)),
                               float(f1_score(truth, predicted, average="weighted", zero_division=0))))
    return out


# --- labelling requests ------------------------------------------------------------------------
@dataclass(frozen=True)
class LabellingRequestInfo:
    id: int
    opened_at: datetime
    drift_report_id: int | None
    model_version: str | None
    window_start: datetime
    window_end: datetime
    labels_needed: int
    status: str
    closed_at: datetime | None
    note: str
    labels: int  # labels on predictions made since the window started

    @property
    def satisfied(self) -> bool:
        return self.labels >= self.labels_needed


def open_labelling_request(store: ProductStore, *, window_start: datetime, window_end: datetime,
                           labels_needed: int, drift_report_id: int | None, model_version: str | None,
                           note: str) -> int:
    with Session(store.engine) as s, s.begin():
        request = LabellingRequest(opened_at=utcnow(), drift_report_id=drift_report_id,
                                   model_version=model_version, window_start=window_start,
                                   window_end=window_end, labels_needed=labels_needed,
                                   status=REQUEST_OPEN, note=note)
        s.add(request)
        s.flush()
        return request.id


def labelling_requests(store: ProductStore, *, status: str | None = None, limit: int = 50) -> list[LabellingRequestInfo]:
    """Newest first, each with the labels it has received so far."""
    stmt = select(LabellingRequest).order_by(LabellingRequest.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(LabellingRequest.status == status)
    with Session(store.engine) as s:
        rows = list(s.scalars(stmt))
        out = []
        for r in rows:
            start = _as_utc(r.window_start)
            labels = int(s.scalar(select(func.count()).select_from(Feedback)
                                  .where(Feedback.predicted_at >= start)) or 0)
            out.append(LabellingRequestInfo(r.id, _as_utc(r.opened_at), r.drift_report_id, r.model_version,
                                            start, _as_utc(r.window_end), r.labels_needed, r.status,
                                            _as_utc(r.closed_at) if r.closed_at else None, r.note, labels))
        return out


def close_labelling_request(store: ProductStore, request_id: int, *, status: str = REQUEST_SATISFIED) -> None:
    with Session(store.engine) as s, s.begin():
        s.execute(update(LabellingRequest).where(LabellingRequest.id == request_id)
                  .values(status=status, closed_at=utcnow()))


# --- the review queue ------------------------------------------------------------------------------
REVIEW_COLUMNS = ["prediction_id", "created_at", "designation", "description", "prdtypecode",
                  "confidence", "known_word_share", "model_version", "in_drifted_window", "priority"]


def review_queue(store: ProductStore, *, limit: int = 50, recent: int = 5000) -> pd.DataFrame:
    """Unlabelled logged predictions, the ones a label would help most first: low confidence,
    many words the model does not know, made in the window of an open labelling request.

    priority = (1 - confidence) + (1 - known word share) + 0.5 if in an open request's window
    (a prediction logged before word shares were recorded counts as half known)."""
    log = store.read_inference_log(last_rows=recent)
    if log.empty:
        return pd.DataFrame(columns=REVIEW_COLUMNS)
    labelled = set(labels_frame(store)["prediction_id"])
    log = log[~log["prediction_id"].isin(labelled)].copy()
    created = pd.to_datetime(log["created_at"], utc=True)
    windows = [r.window_start for r in labelling_requests(store, status=REQUEST_OPEN)]
    start = min(windows) if windows else None
    log["in_drifted_window"] = created >= pd.Timestamp(start) if start is not None else False
    known = log["known_word_share"].astype(float).fillna(0.5)
    log["priority"] = (1 - log["confidence"].astype(float)) + (1 - known) + 0.5 * log["in_drifted_window"]
    log = log.sort_values(["priority", "created_at"], ascending=[False, False]).head(limit)
    return log[REVIEW_COLUMNS].reset_index(drop=True)


EXPORT_COLUMNS = ["prediction_id", "prdtypecode", "predicted_prdtypecode", "model_version",
                  "predicted_at", "received_at", "source", "designation", "description"]


def export_labels(store: ProductStore) -> pd.DataFrame:
    """Every label with the text it labels, for a CSV."""
    stmt = (select(Feedback.prediction_id, Feedback.prdtypecode, Feedback.predicted_prdtypecode,
                   Feedback.model_version, Feedback.predicted_at, Feedback.received_at, Feedback.source,
                   Product.designation, Product.description)
            .join(Product, Product.productid == Feedback.productid).order_by(Feedback.received_at))
    with store.engine.connect() as conn:
        return pd.read_sql(stmt, conn)[EXPORT_COLUMNS]


def parse_label_rows(rows: Iterable[dict]) -> tuple[list[FeedbackItem], dict[int, str]]:
    """Rows of an imported CSV (prediction_id, prdtypecode) -> items, and the reason each other
    row was left out, by row number."""
    items, problems = [], {}
    for number, row in enumerate(rows, start=1):
        pid = str(row.get("prediction_id") or "").strip()
        raw = str(row.get("prdtypecode") or "").strip()
        if not pid or len(pid) > 64:
            problems[number] = "no valid prediction_id"
        elif not raw.isdigit():
            problems[number] = "prdtypecode not a number"
        elif not is_known_code(int(raw)):
            problems[number] = "unknown prdtypecode"
        else:
            items.append(FeedbackItem(pid, int(raw)))
    return items, problems
