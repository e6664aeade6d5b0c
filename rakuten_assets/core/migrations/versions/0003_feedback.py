"""Feedback: ground-truth labels for logged predictions, the labelling requests drift opens, and
each logged prediction's share of words the model's vocabulary knows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inference_log") as batch:
        batch.add_column(sa.Column("known_word_share", sa.Float, nullable=True))
    op.create_table(
        "feedback",
        sa.Column("prediction_id", sa.String(64), primary_key=True),
        sa.Column("prdtypecode", sa.Integer, nullable=False),
        sa.Column("predicted_prdtypecode", sa.Integer, nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("predicted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("productid", sa.BigInteger, sa.ForeignKey("products.productid"), nullable=False),
    )
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])
    op.create_index("ix_feedback_predicted_at", "feedback", ["predicted_at"])
    op.create_index("ix_feedback_productid", "feedback", ["productid"], unique=True)
    op.create_table(
        "labelling_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drift_report_id", sa.Integer, sa.ForeignKey("drift_reports.id"), nullable=True),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("labels_needed", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_labelling_requests_status", "labelling_requests", ["status"])


def downgrade() -> None:
    op.drop_table("labelling_requests")
    op.drop_table("feedback")
    with op.batch_alter_table("inference_log") as batch:
        batch.drop_column("known_word_share")
