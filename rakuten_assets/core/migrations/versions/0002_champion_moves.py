"""Champion moves: every move of the serving alias (by the promotion rule, a person, a roll
back), recorded once, as the audit trail the hub shows and roll back reads.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "champion_moves",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("from_version", sa.String(64), nullable=True),
        sa.Column("to_version", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_champion_moves_moved_at", "champion_moves", ["moved_at"])


def downgrade() -> None:
    op.drop_table("champion_moves")
