"""redemption reversals (reverseRedemption, DESIGN §8.1)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 15:36:40.602619
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "redemption_reversal",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("redemption_id", sa.String(length=24), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("reversal_identifier", sa.String(length=250), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["redemption_id"],
            ["redemption.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "reversal_identifier", name="uq_reversal_identifier"),
        sa.UniqueConstraint("redemption_id", "number", name="uq_reversal_number"),
    )
    op.create_table(
        "redemption_reversal_line",
        sa.Column("reversal_id", sa.String(length=24), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("promotion_id", sa.String(length=24), nullable=False),
        sa.Column("earned_promotion_id", sa.String(length=24), nullable=True),
        sa.Column("redemption_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["earned_promotion_id"],
            ["earned_promotion.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reversal_id"],
            ["redemption_reversal.id"],
        ),
        sa.PrimaryKeyConstraint("reversal_id", "position"),
    )


def downgrade() -> None:
    op.drop_table("redemption_reversal_line")
    op.drop_table("redemption_reversal")
