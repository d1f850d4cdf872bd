"""issue jobs: bulk issue jobs and their ids (startIssueJob / cancelIssueJob, DESIGN §8.4)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 07:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issue_job",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("promotion_id", sa.String(length=24), nullable=False),
        sa.Column("context_id", sa.String(length=250), nullable=False),
        sa.Column("skip_missing", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("issued_count", sa.Integer(), nullable=False),
        sa.Column("already_issued_count", sa.Integer(), nullable=False),
        sa.Column("missing_count", sa.Integer(), nullable=False),
        sa.Column("checked", sa.Boolean(), nullable=False),
        sa.Column("error_kind", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=False),
        sa.Column("lease_until", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_issue_job_org", "issue_job", ["org_id", "created_at", "id"], unique=False)
    op.create_index("ix_issue_job_claim", "issue_job", ["state", "lease_until"], unique=False)
    op.create_table(
        "issue_job_ids",
        sa.Column("job_id", sa.String(length=24), nullable=False),
        sa.Column("customer_ids", sa.LargeBinary(), nullable=False),
        sa.Column("missing_ids", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["issue_job.id"]),
        sa.PrimaryKeyConstraint("job_id"),
    )


def downgrade() -> None:
    op.drop_table("issue_job_ids")
    op.drop_index("ix_issue_job_claim", table_name="issue_job")
    op.drop_index("ix_issue_job_org", table_name="issue_job")
    op.drop_table("issue_job")
