"""walletChanged: PostgreSQL notifies each committed wallet change (DESIGN §8.6)

A statement-level trigger on wallet_ledger sends one NOTIFY per 200 changed wallets of the
statement (payloads stay far under PostgreSQL's 8000-byte limit), in the writing transaction, so
it costs the writer no round trip and is delivered only if that transaction commits. SQLite has
no notifications: nothing to create there (persistence/wallet_change_feed.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 06:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE OR REPLACE FUNCTION wallet_ledger_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  payload text;
BEGIN
  FOR payload IN
    SELECT string_agg(wallet, ',')
    FROM (
      SELECT wallet, (row_number() OVER () - 1) / 200 AS page
      FROM (SELECT DISTINCT org_id::text || ':' || customer_id::text AS wallet FROM changed) AS w
    ) AS paged
    GROUP BY page
  LOOP
    PERFORM pg_notify('wallet_changed', payload);
  END LOOP;
  RETURN NULL;
END
$$
"""

TRIGGER = """
CREATE TRIGGER wallet_ledger_notify AFTER INSERT ON wallet_ledger
REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wallet_ledger_notify()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS wallet_ledger_notify ON wallet_ledger")
    op.execute("DROP FUNCTION IF EXISTS wallet_ledger_notify()")
