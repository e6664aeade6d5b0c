"""The product store and the inference log: one SQLAlchemy 2 schema, SQLite or PostgreSQL.

The schema is made and changed by the Alembic revisions in `rakuten_assets.core.migrations`
(applied when a process first opens the store, or by `rakuten migrate`). Every batch of rows that arrives is recorded in
`load_batches` with what was accepted and what was rejected and why; products and their labels
are kept apart because live traffic (the inference log) has no labels.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    create_engine,
    delete,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from rakuten_assets.core.migrations import ensure_schema

_CHUNK = 5_000
_READ_CHUNK = 50_000  # rows per fetch when reading the store whole


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class LoadBatch(Base):
    __tablename__ = "load_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # What identifies the batch across re-runs: a source identity plus the rows it covers.
    batch_key: Mapped[str] = mapped_column(String(300), unique=True, index=True)
    source: Mapped[str] = mapped_column(String(200))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rows_offered: Mapped[int] = mapped_column(Integer)
    rows_accepted: Mapped[int] = mapped_column(Integer)
    rows_rejected: Mapped[int] = mapped_column(Integer)
    rejections_json: Mapped[str] = mapped_column(Text, default="{}")


class Product(Base):
    __tablename__ = "products"

    productid: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    imageid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    designation: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("load_batches.id"), index=True)


class Label(Base):
    __tablename__ = "labels"

    productid: Mapped[int] = mapped_column(ForeignKey("products.productid"), primary_key=True,
                                           autoincrement=False)
    prdtypecode: Mapped[int] = mapped_column(Integer, index=True)


class InferenceLog(Base):
    __tablename__ = "inference_log"

    prediction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    designation: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    prdtypecode: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(64))
    latency_ms: Mapped[float] = mapped_column(Float)
    # Share of the input's words the model's vocabulary knows (None: logged before it existed).
    known_word_share: Mapped[float | None] = mapped_column(Float, nullable=True)


class ChampionMove(Base):
    """One move of the serving alias: by the promotion rule, by a person, or a roll back."""

    __tablename__ = "champion_moves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    moved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    alias: Mapped[str] = mapped_column(String(100))
    from_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_version: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # rule | manual | rollback
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)


class Feedback(Base):
    """A ground-truth label for a logged prediction (`core.feedback`). The labelled text is also a
    product of the store (`productid`, in a load batch whose source is `feedback`), so the next
    training run learns from it."""

    __tablename__ = "feedback"

    prediction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    prdtypecode: Mapped[int] = mapped_column(Integer)
    predicted_prdtypecode: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str] = mapped_column(String(64))
    predicted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source: Mapped[str] = mapped_column(String(40))  # api | hub | import
    productid: Mapped[int] = mapped_column(ForeignKey("products.productid"), unique=True, index=True)


class LabellingRequest(Base):
    """Drift found and no new labels to learn from: labels wanted for the drifted traffic."""

    __tablename__ = "labelling_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    drift_report_id: Mapped[int | None] = mapped_column(ForeignKey("drift_reports.id"), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    labels_needed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)  # open | satisfied
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class DriftRecord(Base):
    """One drift report's summary: what the API exports as gauges and the hub plots over time.
    In the database rather than a report folder, so API replicas on other hosts see it."""

    __tablename__ = "drift_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(40))
    drift_detected: Mapped[bool] = mapped_column(Boolean)
    drifted_share: Mapped[float] = mapped_column(Float)
    rows_reference: Mapped[int] = mapped_column(Integer)
    rows_current: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    html_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary_json: Mapped[str] = mapped_column(Text, default="{}")


INFERENCE_LOG_COLUMNS = ["prediction_id", "created_at", "designation", "description",
                         "prdtypecode", "confidence", "model_version", "latency_ms", "known_word_share"]


@dataclass
class BatchResult:
    """What one ingestion did; `rejections` maps a reason to its row count."""

    batch_key: str
    batch_id: int | None
    rows_offered: int
    rows_accepted: int
    rows_already_stored: int = 0
    rejections: dict[str, int] = field(default_factory=dict)
    already_loaded: bool = False
    # The first rejected rows one by one: (row number in the file, productid as given, reason).
    rejected_rows: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejections.values())

    def summary(self) -> str:
        if self.already_loaded:
            return f"batch {self.batch_key} was already loaded: nothing inserted"
        text = (f"batch {self.batch_key}: {self.rows_offered} rows offered, "
                f"{self.rows_accepted} stored, {self.rows_rejected} rejected")
        if self.rows_already_stored:
            text += f", {self.rows_already_stored} already in the store"
        if self.rejections:
            text += " (" + ", ".join(f"{n} {why}" for why, n in sorted(self.rejections.items())) + ")"
        if self.rejected_rows:
            shown = self.rejected_rows[:10]
            text += "; rejected rows: " + "; ".join(
                f"row {row} (productid {pid or 'empty'}): {why}" for row, pid, why in shown)
            if self.rows_rejected > len(shown):
                text += f"; and {self.rows_rejected - len(shown)} more"
        return text


def make_engine(url: str) -> Engine:
    if url.startswith(("postgresql://", "postgres://")):
        # psycopg2, the one PostgreSQL driver of the project (docs/architecture.md): SQLAlchemy
        # 2.1 reads a plain postgresql:// URL as psycopg 3, which is not installed.
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]
    kwargs: dict = {"pool_pre_ping": True}
    if url.startswith("postgresql+psycopg2"):
        # A database host that is gone (a stopped container) fails a connection in seconds rather
        # than the OS's minutes, so readers such as the API's scrape-time gauges give up quickly.
        kwargs["connect_args"] = {"connect_timeout": 5}
    if url.startswith("sqlite"):
        # The API writes from a background thread while the hub and Dagster read.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    return create_engine(url, **kwargs)


_PRODUCT_COLUMNS = ("productid", "imageid", "designation", "description", "batch_id")


def _insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """Insert rows given as tuples in `columns` order, _CHUNK at a time (parameters for a whole
    850k-product batch at once cost more memory than the rows themselves)."""
    rows = iter(rows)
    if conn.dialect.name == "sqlite":
        # sqlite3 binds tuples in C; SQLAlchemy's executemany builds and processes a dict per
        # row, which was half the time of storing an 850k-product batch. The values still go
        # through the column types' own bind processors, so they are stored as SQLAlchemy
        # stores them (a timestamp as its text form, not sqlite3's default adapter's).
        processors = [(i, process) for i, name in enumerate(columns)
                      if (process := table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect))]
        if processors:
            rows = _bound(rows, processors)
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        while chunk := list(itertools.islice(rows, _CHUNK)):
            conn.exec_driver_sql(sql, chunk)
    else:  # PostgreSQL: SQLAlchemy batches the rows into multi-VALUES statements (insertmanyvalues)
        while chunk := list(itertools.islice(rows, _CHUNK)):
            conn.execute(table.insert(), [dict(zip(columns, row)) for row in chunk])


def _bound(rows: Iterable[tuple], processors: list[tuple[int, Callable]]) -> Iterator[tuple]:
    """The rows with the processed columns' values bound, each distinct value processed once
    (the inference log's rows of one request share one timestamp)."""
    seen: list[dict] = [{} for _ in processors]
    for row in rows:
        row = list(row)
        for (i, process), done in zip(processors, seen):
            value = row[i]
            if value not in done:
                done[value] = process(value)
            row[i] = done[value]
        yield tuple(row)


class ProductStore:
    def __init__(self, url: str, *, migrate: bool = True):
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            ensure_schema(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    # --- ingestion --------------------------------------------------------------------------
    def batch_exists(self, batch_key: str) -> bool:
        with Session(self.engine) as s:
            return s.scalar(select(LoadBatch.id).where(LoadBatch.batch_key == batch_key)) is not None

    def record_batch(self, *, batch_key: str, source: str, rows: pd.DataFrame, rows_offered: int,
                     rejections: dict[str, int]) -> BatchResult:
        """Store validated rows (productid, imageid, designation, description, prdtypecode) as
        one batch, in one transaction. Products already stored are skipped and counted, so a
        re-run or an overlapping file never inserts anything twice."""
        with Session(self.engine) as s, s.begin():
            if s.scalar(select(LoadBatch.id).where(LoadBatch.batch_key == batch_key)) is not None:
                return BatchResult(batch_key, None, rows_offered, 0, already_loaded=True)
            ids = [int(i) for i in rows["productid"]]
            existing = self._existing_ids(s, ids)
            new_rows = rows[~rows["productid"].isin(existing)] if existing else rows
            batch = LoadBatch(batch_key=batch_key, source=source, rows_offered=rows_offered,
                              rows_accepted=len(new_rows),
                              rows_rejected=sum(rejections.values()),
                              rejections_json=json.dumps(rejections, sort_keys=True))
            s.add(batch)
            s.flush()
            new_ids = new_rows["productid"].astype("int64").tolist()
            images = [None if pd.isna(v) else int(v) for v in new_rows["imageid"].tolist()]
            descriptions = [None if pd.isna(v) else v for v in new_rows["description"].tolist()]
            products = zip(new_ids, images, new_rows["designation"].tolist(), descriptions,
                           [batch.id] * len(new_ids))
            labels = zip(new_ids, new_rows["prdtypecode"].astype("int64").tolist())
            conn = s.connection()
            _insert_rows(conn, Product.__table__, _PRODUCT_COLUMNS, products)
            _insert_rows(conn, Label.__table__, ("productid", "prdtypecode"), labels)
            return BatchResult(batch_key, batch.id, rows_offered, len(new_rows),
                               rows_already_stored=len(rows) - len(new_rows),
                               rejections=dict(rejections))

    @staticmethod
    def _existing_ids(s: Session, ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            found.update(s.scalars(select(Product.productid).where(Product.productid.in_(chunk))))
        return found

    # --- reading ------------------------------------------------------------------------------
    def count_products(self) -> int:
        with Session(self.engine) as s:
            return int(s.scalar(select(func.count()).select_from(Product)) or 0)

    def count_batches(self, source_prefix: str | None = None) -> int:
        stmt = select(func.count()).select_from(LoadBatch)
        if source_prefix:
            stmt = stmt.where(LoadBatch.source.startswith(source_prefix))
        with Session(self.engine) as s:
            return int(s.scalar(stmt) or 0)

    def labelled_products(self, chunk_rows: int = _READ_CHUNK) -> pd.DataFrame:
        """Every labelled product, ordered by id so a snapshot is reproducible.

        Read `chunk_rows` at a time through a streaming cursor: one `read_sql` of the whole
        table holds every row twice (the driver's tuples and the frame) and at 850k products
        that was a 1.5 GB peak; chunk by chunk only the frame grows."""
        stmt = (select(Product.productid, Product.designation, Product.description,
                       Label.prdtypecode, Product.batch_id)
                .join(Label, Label.productid == Product.productid)
                .order_by(Product.productid))
        dtypes = {"productid": "int64", "prdtypecode": "int64", "batch_id": "int64"}
        with self.engine.connect() as conn:
            conn = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows)
            chunks = [chunk.astype(dtypes) for chunk in pd.read_sql(stmt, conn, chunksize=chunk_rows)]
        if not chunks:  # read_sql yields nothing for an empty result: keep the columns
            return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "object")) for c in
                                 ("productid", "designation", "description", "prdtypecode", "batch_id")})
        return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]

    def batches(self) -> pd.DataFrame:
        stmt = select(LoadBatch.id, LoadBatch.batch_key, LoadBatch.source, LoadBatch.loaded_at,
                      LoadBatch.rows_offered, LoadBatch.rows_accepted, LoadBatch.rows_rejected,
                      LoadBatch.rejections_json).order_by(LoadBatch.id)
        with self.engine.connect() as conn:
            return pd.read_sql(stmt, conn)

    def class_distribution(self) -> pd.DataFrame:
        stmt = (select(Label.prdtypecode, func.count().label("rows"))
                .group_by(Label.prdtypecode).order_by(Label.prdtypecode))
        with self.engine.connect() as conn:
            return pd.read_sql(stmt, conn)

    def sample_products(self, limit: int = 20, offset: int = 0) -> pd.DataFrame:
        stmt = (select(Product.productid, Product.designation, Product.description,
                       Label.prdtypecode, Product.batch_id)
                .join(Label, Label.productid == Product.productid)
                .order_by(Product.productid).limit(limit).offset(offset))
        with self.engine.connect() as conn:
            return pd.read_sql(stmt, conn)

    # --- inference log ----------------------------------------------------------------------------
    def append_inference_rows(self, rows: Iterable[dict]) -> int:
        rows = list(rows)
        if rows:
            # as tuples: on SQLite through sqlite3's executemany (`_insert_rows`), because
            # SQLAlchemy's per-row parameter processing held the GIL the API's model thread
            # needs (a sixth of the log writer's share of it under load, issue 14)
            with self.engine.begin() as conn:
                _insert_rows(conn, InferenceLog.__table__, INFERENCE_LOG_COLUMNS,
                             ((r["prediction_id"], r["created_at"], r["designation"], r.get("description"),
                               r["prdtypecode"], r["confidence"], r["model_version"], r["latency_ms"],
                               r.get("known_word_share")) for r in rows))
        return len(rows)

    def count_inference_rows(self) -> int:
        with Session(self.engine) as s:
            return int(s.scalar(select(func.count()).select_from(InferenceLog)) or 0)

    def read_inference_log(self, *, last_rows: int | None = None,
                           since: datetime | None = None) -> pd.DataFrame:
        """Most recent rows first is how a window is chosen; they come back oldest first."""
        stmt = select(*[getattr(InferenceLog, c) for c in INFERENCE_LOG_COLUMNS])
        if since is not None:
            stmt = stmt.where(InferenceLog.created_at >= since)
        stmt = stmt.order_by(InferenceLog.created_at.desc())
        if last_rows is not None:
            stmt = stmt.limit(last_rows)
        with self.engine.connect() as conn:
            frame = pd.read_sql(stmt, conn)
        return frame.iloc[::-1].reset_index(drop=True)

    def clear_inference_log(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(InferenceLog))

    # --- drift reports ------------------------------------------------------------------------
    def record_drift(self, *, status: str, drift_detected: bool, drifted_share: float,
                     rows_reference: int, rows_current: int, model_version: str | None,
                     html_path: str | None, summary: dict) -> int:
        with Session(self.engine) as s, s.begin():
            record = DriftRecord(status=status, drift_detected=bool(drift_detected),
                                 drifted_share=float(drifted_share), rows_reference=int(rows_reference),
                                 rows_current=int(rows_current), model_version=model_version,
                                 html_path=html_path,
                                 summary_json=json.dumps(summary, sort_keys=True, default=str))
            s.add(record)
            s.flush()
            return record.id

    def drift_history(self, limit: int = 500) -> pd.DataFrame:
        """Latest reports first is how they are chosen; they come back oldest first."""
        stmt = (select(DriftRecord.id, DriftRecord.created_at, DriftRecord.status,
                       DriftRecord.drift_detected, DriftRecord.drifted_share,
                       DriftRecord.rows_reference, DriftRecord.rows_current,
                       DriftRecord.model_version, DriftRecord.html_path)
                .order_by(DriftRecord.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            frame = pd.read_sql(stmt, conn)
        return frame.iloc[::-1].reset_index(drop=True)

    def latest_drift(self) -> dict | None:
        with Session(self.engine) as s:
            record = s.scalars(select(DriftRecord).order_by(DriftRecord.id.desc()).limit(1)).first()
            if record is None:
                return None
            return {"id": record.id, "created_at": record.created_at, "status": record.status,
                    "drift_detected": record.drift_detected, "drifted_share": record.drifted_share,
                    "rows_reference": record.rows_reference, "rows_current": record.rows_current,
                    "model_version": record.model_version, "html_path": record.html_path,
                    "summary": json.loads(record.summary_json or "{}")}


    # --- champion moves (the audit trail of the serving alias) -------------------------------
    def record_champion_move(self, *, model_name: str, alias: str, from_version: str | None,
                             to_version: str, kind: str, actor: str, reason: str) -> int:
        with Session(self.engine) as s, s.begin():
            move = ChampionMove(model_name=model_name, alias=alias, from_version=from_version,
                                to_version=str(to_version), kind=kind, actor=actor, reason=reason)
            s.add(move)
            s.flush()
            return move.id

    def champion_moves(self, model_name: str, alias: str, limit: int = 200) -> pd.DataFrame:
        """Newest first."""
        stmt = (select(ChampionMove.id, ChampionMove.moved_at, ChampionMove.from_version,
                       ChampionMove.to_version, ChampionMove.kind, ChampionMove.actor,
                       ChampionMove.reason)
                .where(ChampionMove.model_name == model_name, ChampionMove.alias == alias)
                .order_by(ChampionMove.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return pd.read_sql(stmt, conn)
