"""The store as it was before migrations: load batches, products, labels, inference log, drift
reports.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "load_batches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_key", sa.String(300), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows_offered", sa.Integer, nullable=False),
        sa.Column("rows_accepted", sa.Integer, nullable=False),
        sa.Column("rows_rejected", sa.Integer, nullable=False),
        sa.Column("rejections_json", sa.Text, nullable=False),
    )
    op.create_index("ix_load_batches_batch_key", "load_batches", ["batch_key"], unique=True)
    op.create_table(
        "products",
        sa.Column("productid", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("imageid", sa.BigInteger, nullable=True),
        sa.Column("designation", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("load_batches.id"), nullable=False),
    )
    op.create_index("ix_products_batch_id", "products", ["batch_id"])
    op.create_table(
        "labels",
        sa.Column("productid", sa.BigInteger, sa.ForeignKey("products.productid"), primary_key=True,
                  autoincrement=False),
        sa.Column("prdtypecode", sa.Integer, nullable=False),
    )
    op.create_index("ix_labels_prdtypecode", "labels", ["prdtypecode"])
    op.create_table(
        "inference_log",
        sa.Column("prediction_id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("designation", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("prdtypecode", sa.Integer, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
    )
    op.create_index("ix_inference_log_created_at", "inference_log", ["created_at"])
    op.create_table(
        "drift_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("drift_detected", sa.Boolean, nullable=False),
        sa.Column("drifted_share", sa.Float, nullable=False),
        sa.Column("rows_reference", sa.Integer, nullable=False),
        sa.Column("rows_current", sa.Integer, nullable=False),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("html_path", sa.Text, nullable=True),
        sa.Column("summary_json", sa.Text, nullable=False),
    )
    op.create_index("ix_drift_reports_created_at", "drift_reports", ["created_at"])


def downgrade() -> None:
    for table in ("drift_reports", "inference_log", "labels", "products", "load_batches"):
        op.drop_table(table)
