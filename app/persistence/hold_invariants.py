"""The invariant checker's queries for holds (DESIGN §8.2), kept apart from the main checker so it
can be hooked in where that one lives: each query returns (subject, *facts) for every violation,
with a template of how the facts read, as the main checker's do.

What must hold in any database, whatever the interleaving of holds, commits, releases and expiries:
- a hold's allocations are entries of its org, customer and promotion, each of at least 1, and
  wallet promotions only (the entry exists: the foreign key);
- the ledger's HELD / RELEASED rows (quantity 0, source = the hold id) are one HELD row per
  allocation, and one RELEASED row per allocation exactly when the hold is COMMITTED or RELEASED;
- a COMMITTED hold names its redemption, of the same transactionIdentifier, which consumed exactly
  the hold's allocations; no other hold names a redemption;
- per entry, used + what live holds reserve at `now` never exceeds allowed;
- at most one live hold per (org, transactionIdentifier), and none of a recorded transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, String, and_, case, cast, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.models import HoldStatus, LedgerKind
from app.persistence.tables import (
    earned_promotion_table,
    hold_allocation_table,
    hold_table,
    redemption_consumption_table,
    redemption_table,
    wallet_ledger_table,
)

h = hold_table.c
ha = hold_allocation_table.c
e = earned_promotion_table.c
led = wallet_ledger_table.c
con = redemption_consumption_table.c
red = redemption_table.c
REPORT_LIMIT = 20
SETTLED = (HoldStatus.COMMITTED.value, HoldStatus.RELEASED.value)


class HoldViolationKind(StrEnum):
    HOLD_ALLOCATION_FOREIGN = "HOLD_ALLOCATION_FOREIGN"
    HOLD_LEDGER_MISMATCH = "HOLD_LEDGER_MISMATCH"
    HOLD_COMMIT_MISMATCH = "HOLD_COMMIT_MISMATCH"
    HOLD_OVER_RESERVED = "HOLD_OVER_RESERVED"
    HOLD_TRANSACTION_TWICE = "HOLD_TRANSACTION_TWICE"


@dataclass(frozen=True, slots=True)
class HoldViolation:
    kind: HoldViolationKind
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


def hold_checks(now: int) -> list[tuple[HoldViolationKind, Select[Any], str]]:
    """(kind, query returning (subject, *facts), how the facts read); `now` decides which holds are live."""
    subject = literal("hold ") + ha.hold_id
    live = and_(h.status == HoldStatus.HELD.value, h.expires_at > now)

    # Per (hold, entry): allocations minus HELD rows, and (settled ? allocations : 0) minus RELEASED rows.
    marker_delta = union_all(
        select(ha.hold_id, ha.earned_promotion_id, literal(1).label("held"), literal(0).label("released")),
        select(
            h.id, ha.earned_promotion_id, literal(0), case((h.status.in_(SETTLED), 1), else_=0)
        ).select_from(hold_table.join(hold_allocation_table, ha.hold_id == h.id)),
        select(
            led.source,
            led.earned_promotion_id,
            case((led.kind == LedgerKind.HELD.value, -1), else_=0),
            case((led.kind == LedgerKind.RELEASED.value, -1), else_=0),
        ).where(led.kind.in_([LedgerKind.HELD.value, LedgerKind.RELEASED.value])),
    ).subquery("marker_delta")
    md = marker_delta.c
    # Per committed hold: allocations minus its redemption's consumptions, entry by entry.
    commit_delta = union_all(
        select(h.id, ha.earned_promotion_id, ha["count"].label("delta"))
        .select_from(hold_table.join(hold_allocation_table, ha.hold_id == h.id))
        .where(h.status == HoldStatus.COMMITTED.value),
        select(h.id, con.earned_promotion_id, -con["count"])
        .select_from(hold_table.join(redemption_consumption_table, con.redemption_id == h.redemption_id))
        .where(h.status == HoldStatus.COMMITTED.value),
    ).subquery("commit_delta")
    cd = commit_delta.c
    reserved = (
        select(ha.earned_promotion_id.label("entry_id"), func.sum(ha["count"]).label("held"))
        .select_from(hold_allocation_table.join(hold_table, h.id == ha.hold_id))
        .where(live)
        .group_by(ha.earned_promotion_id)
        .subquery("reserved")
    )
    return [
        (
            HoldViolationKind.HOLD_ALLOCATION_FOREIGN,
            select(subject, ha.earned_promotion_id, ha.promotion_id, ha["count"])
            .select_from(
                hold_allocation_table.join(hold_table, h.id == ha.hold_id).join(
                    earned_promotion_table, e.id == ha.earned_promotion_id
                )
            )
            .where(
                or_(
                    e.org_id != h.org_id,
                    e.customer_id != h.customer_id,
                    e.promotion_id != ha.promotion_id,
                    ha["count"] < 1,
                )
            ),
            "allocates entry {} as promotion {} x{}, not an entry of its org, customer and promotion",
        ),
        (
            HoldViolationKind.HOLD_LEDGER_MISMATCH,
            select(
                literal("hold ") + md.hold_id,
                md.earned_promotion_id,
                func.sum(md.held),
                func.sum(md.released),
            )
            .group_by(md.hold_id, md.earned_promotion_id)
            .having(or_(func.sum(md.held) != 0, func.sum(md.released) != 0)),
            "entry {}: allocations minus HELD rows = {}, settled allocations minus RELEASED rows = {}",
        ),
        (
            HoldViolationKind.HOLD_LEDGER_MISMATCH,
            select(literal("ledger row ") + cast(led.id, String), led.kind, led.quantity).where(
                led.kind.in_([LedgerKind.HELD.value, LedgerKind.RELEASED.value]), led.quantity != 0
            ),
            "{} row of quantity {} (holds do not move allowed - used)",
        ),
        (
            HoldViolationKind.HOLD_COMMIT_MISMATCH,
            select(literal("hold ") + cd.id, cd.earned_promotion_id, func.sum(cd.delta))
            .group_by(cd.id, cd.earned_promotion_id)
            .having(func.sum(cd.delta) != 0),
            "entry {}: allocations minus the redemption's consumptions = {}",
        ),
        (
            HoldViolationKind.HOLD_COMMIT_MISMATCH,
            select(literal("hold ") + h.id, h.status, h.redemption_id, red.transaction_identifier)
            .select_from(hold_table.outerjoin(redemption_table, red.id == h.redemption_id))
            .where(
                or_(
                    and_(h.status == HoldStatus.COMMITTED.value, red.id.is_(None)),
                    and_(h.status != HoldStatus.COMMITTED.value, h.redemption_id.is_not(None)),
                    and_(red.id.is_not(None), red.transaction_identifier != h.transaction_identifier),
                    and_(red.id.is_not(None), or_(red.org_id != h.org_id, red.customer_id != h.customer_id)),
                )
            ),
            "status {} names redemption {} (of transaction {})",
        ),
        (
            HoldViolationKind.HOLD_OVER_RESERVED,
            select(literal("entry ") + e.id, e.redemptions_used, reserved.c.held, e.redemptions_allowed)
            .select_from(earned_promotion_table.join(reserved, reserved.c.entry_id == e.id))
            .where(e.redemptions_used + reserved.c.held > e.redemptions_allowed),
            "used {} + held {} exceeds allowed {}",
        ),
        (
            HoldViolationKind.HOLD_TRANSACTION_TWICE,
            select(literal("transaction ") + h.transaction_identifier, h.org_id, func.count())
            .where(live)
            .group_by(h.org_id, h.transaction_identifier)
            .having(func.count() > 1),
            "org {}: {} live holds",
        ),
        (
            HoldViolationKind.HOLD_TRANSACTION_TWICE,
            select(literal("hold ") + h.id, h.transaction_identifier)
            .select_from(
                hold_table.join(
                    redemption_table,
                    and_(red.org_id == h.org_id, red.transaction_identifier == h.transaction_identifier),
                )
            )
            .where(live),
            "is live but transaction {} is recorded as a redemption",
        ),
    ]


async def check_holds(connection: AsyncConnection, *, now: int) -> list[HoldViolation]:
    """Every hold violation visible on this connection at `now` (empty = consistent)."""
    violations: list[HoldViolation] = []
    for kind, query, template in hold_checks(now):
        rows = (await connection.execute(query.limit(REPORT_LIMIT))).all()
        violations.extend(
            HoldViolation(kind=kind, subject=str(row[0]), detail=template.format(*row[1:])) for row in rows
        )
    return violations
