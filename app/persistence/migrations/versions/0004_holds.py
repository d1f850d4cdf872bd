"""holds: two-phase redemption (holdPromotions / commitHold / releaseHold, DESIGN §8.2)

Revision ID: 0004
Revises: 0003 (idempotency keys, not on this branch: merge after it lands)
Create Date: 2026-12-09 10:12:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hold",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_identifier_type", sa.String(length=16), nullable=True),
        sa.Column("customer_identifier_value", sa.String(length=250), nullable=True),
        sa.Column("transaction_identifier", sa.String(length=250), nullable=False),
        sa.Column("transaction_number", sa.String(length=250), nullable=False),
        sa.Column("transaction_date", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.String(length=40), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("settled_at", sa.BigInteger(), nullable=True),
        sa.Column("redemption_id", sa.String(length=24), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["org_id", "customer_id"], ["customer.org_id", "customer.id"]),
        sa.ForeignKeyConstraint(["redemption_id"], ["redemption.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hold_transaction", "hold", ["org_id", "transaction_identifier"], unique=False)
    op.create_index("ix_hold_customer", "hold", ["org_id", "customer_id", "id"], unique=False)
    op.create_table(
        "hold_line",
        sa.Column("hold_id", sa.String(length=24), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sku", sa.String(length=250), nullable=True),
        sa.Column("promotion_id", sa.String(length=24), nullable=False),
        sa.Column("earned_promotion_id", sa.String(length=24), nullable=True),
        sa.Column("redemption_count", sa.Integer(), nullable=False),
        sa.Column("discount", sa.String(length=40), nullable=False),
        sa.Column("discount_applied_on_quantity", sa.String(length=40), nullable=False),
        sa.Column("promotion_applied_on_quantity", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["hold_id"], ["hold.id"]),
        sa.PrimaryKeyConstraint("hold_id", "kind", "position"),
    )
    op.create_table(
        "hold_allocation",
        sa.Column("hold_id", sa.String(length=24), nullable=False),
        sa.Column("earned_promotion_id", sa.String(length=24), nullable=False),
        sa.Column("promotion_id", sa.String(length=24), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["earned_promotion_id"], ["earned_promotion.id"]),
        sa.ForeignKeyConstraint(["hold_id"], ["hold.id"]),
        sa.PrimaryKeyConstraint("hold_id", "earned_promotion_id"),
    )
    op.create_index(
        "ix_hold_allocation_entry", "hold_allocation", ["earned_promotion_id", "hold_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_hold_allocation_entry", table_name="hold_allocation")
    op.drop_table("hold_allocation")
    op.drop_table("hold_line")
    op.drop_index("ix_hold_customer", table_name="hold")
    op.drop_index("ix_hold_transaction", table_name="hold")
    op.drop_table("hold")
