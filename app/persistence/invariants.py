"""The ledger invariant checker: what must hold in any database of this service, whatever
interleaving of requests, crashes and faults produced it.

    promo-wallet check-invariants --database-url postgresql+asyncpg://...   # exit 1 on violations
    python -m app.invariants --database-url ...                            # the same (an alias)

Every check is one SQL query that returns only the offending rows, so it runs in seconds on
100,000-entry wallets and prints nothing when all is well. What it checks (the convention of the
ledger is the one the services write: quantity = change in redemptions available, +allowed on
ISSUED/EARNED, -count on REDEEMED, +count on REVERSED, -left on REVOKED):

- entries: 1 <= allowed, 0 <= used <= allowed; a revoked entry was never redeemed (only unredeemed
  entries are revoked) and no redemption consumed it after it was revoked; no redemption consumed
  it outside [unlocks_at, valid_till]; the consumptions of each entry minus what reversals gave
  back add up to its used count;
- earning keys: no duplicate (org, customer, promotion, earnedFromId, instance), and at most one
  BULK_ISSUE entry per (org, customer, promotion, contextId);
- the ledger: each entry has exactly one grant row (ISSUED for BULK_ISSUE, EARNED otherwise) of
  +allowed, a REVOKED row iff it is revoked, and its rows sum to allowed - used (0 once revoked);
  per (org, customer, promotion) the ledger sums to what the wallet holds; every row names an
  existing entry of its own org, customer and promotion; each redemption's REDEEMED rows equal
  its consumptions, entry by entry, and each reversal's REVERSED rows its lines;
- redemptions: each consumption names an existing entry of the redemption's org and customer and
  of the promotion it says, with a count >= 1; per promotion the consumptions equal the counted
  lines (lineItems if any, else redemptions) for wallet promotions and nothing for POS/CODE, and
  every entry a line names is consumed at least that many times;
- reversals: no redemption gets back more than it consumed, entry by entry (and, for POS and CODE
  promotions, more than its lines counted); each reversal line of an entry names one the
  redemption consumed;
- holds (`persistence/hold_invariants.py`): allocations of the hold's own customer, one HELD and
  (once settled) one RELEASED marker per allocation, a commit's redemption consuming exactly its
  allocations, no entry reserved beyond what it has left, one live hold per transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    not_,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from app.domain.clock import now_ms
from app.domain.models import EarnedFromType, LedgerKind, PromotionType
from app.persistence.hold_invariants import HoldViolationKind, hold_checks
from app.persistence.tables import (
    earned_promotion_table,
    promotion_table,
    redemption_consumption_table,
    redemption_line_table,
    redemption_reversal_line_table,
    redemption_reversal_table,
    redemption_table,
    wallet_ledger_table,
)

e = earned_promotion_table.c
led = wallet_ledger_table.c
red = redemption_table.c
con = redemption_consumption_table.c
ln = redemption_line_table.c
pro = promotion_table.c
rv = redemption_reversal_table.c
rvl = redemption_reversal_line_table.c

WALLET_TYPES = [t.value for t in PromotionType if t.held_in_wallet]
# Rows reported per kind: enough to debug, bounded when a whole table is wrong.
REPORT_LIMIT = 50


class ViolationKind(StrEnum):
    USED_OUT_OF_RANGE = "USED_OUT_OF_RANGE"
    REVOKED_AFTER_USE = "REVOKED_AFTER_USE"
    REDEEMED_AFTER_REVOKE = "REDEEMED_AFTER_REVOKE"
    REDEEMED_OUTSIDE_VALIDITY = "REDEEMED_OUTSIDE_VALIDITY"
    CONSUMPTION_MISMATCH = "CONSUMPTION_MISMATCH"
    DUPLICATE_EARNING_KEY = "DUPLICATE_EARNING_KEY"
    DUPLICATE_ISSUE = "DUPLICATE_ISSUE"
    LEDGER_GRANT_MISMATCH = "LEDGER_GRANT_MISMATCH"
    LEDGER_REVOKE_MISMATCH = "LEDGER_REVOKE_MISMATCH"
    LEDGER_ENTRY_MISMATCH = "LEDGER_ENTRY_MISMATCH"
    LEDGER_WALLET_MISMATCH = "LEDGER_WALLET_MISMATCH"
    LEDGER_ORPHAN = "LEDGER_ORPHAN"
    REDEEMED_LEDGER_MISMATCH = "REDEEMED_LEDGER_MISMATCH"
    CONSUMPTION_ORPHAN = "CONSUMPTION_ORPHAN"
    CONSUMPTION_FOREIGN = "CONSUMPTION_FOREIGN"
    CONSUMPTION_WRONG_PROMOTION = "CONSUMPTION_WRONG_PROMOTION"
    CONSUMPTION_NOT_IN_LINES = "CONSUMPTION_NOT_IN_LINES"
    REVERSED_LEDGER_MISMATCH = "REVERSED_LEDGER_MISMATCH"
    REVERSAL_EXCEEDS_REDEMPTION = "REVERSAL_EXCEEDS_REDEMPTION"


@dataclass(frozen=True, slots=True)
class Violation:
    kind: ViolationKind | HoldViolationKind
    subject: str  # what is wrong: "entry <id>", "redemption <id>", "wallet org/customer/promotion"
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


def _left() -> ColumnElement[Any]:
    """What an entry holds now: allowed - used, or 0 once revoked."""
    return case((e.revoked_at.is_not(None), 0), else_=e.redemptions_allowed - e.redemptions_used)


def _sum(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(column), 0)


def _per_entry() -> tuple[Any, Any, Any]:
    """earned_promotion LEFT JOIN its ledger and consumption totals, each aggregated once and
    joined by entry id: linear whatever the planner's statistics say (a correlated subquery per
    entry was planned as a 100,000 x 100,000 loop on a freshly written, un-ANALYZEd PostgreSQL)."""

    def of_kind(kind: LedgerKind, value: ColumnElement[Any] | int) -> ColumnElement[Any]:
        return _sum(case((led.kind == kind.value, value), else_=0))

    ledger = (
        select(
            led.earned_promotion_id.label("entry_id"),
            _sum(led.quantity).label("total"),
            of_kind(LedgerKind.ISSUED, 1).label("issued_rows"),
            of_kind(LedgerKind.ISSUED, led.quantity).label("issued_quantity"),
            of_kind(LedgerKind.EARNED, 1).label("earned_rows"),
            of_kind(LedgerKind.EARNED, led.quantity).label("earned_quantity"),
            of_kind(LedgerKind.REVOKED, 1).label("revoked_rows"),
        )
        .where(led.earned_promotion_id.is_not(None))
        .group_by(led.earned_promotion_id)
        .subquery("ledger_per_entry")
    )
    consumption = (
        select(con.earned_promotion_id.label("entry_id"), _sum(con.count).label("consumed"))
        .group_by(con.earned_promotion_id)
        .subquery("consumption_per_entry")
    )
    reversed_ = (
        select(rvl.earned_promotion_id.label("entry_id"), _sum(rvl.redemption_count).label("given_back"))
        .where(rvl.earned_promotion_id.is_not(None))
        .group_by(rvl.earned_promotion_id)
        .subquery("reversed_per_entry")
    )
    consumption = (
        select(
            consumption.c.entry_id,
            (consumption.c.consumed - func.coalesce(reversed_.c.given_back, 0)).label("consumed"),
        )
        .select_from(consumption.outerjoin(reversed_, reversed_.c.entry_id == consumption.c.entry_id))
        .subquery("net_consumption_per_entry")
    )
    joined = earned_promotion_table.outerjoin(ledger, ledger.c.entry_id == e.id).outerjoin(
        consumption, consumption.c.entry_id == e.id
    )
    return joined, ledger.c, consumption.c


def _checks() -> list[tuple[ViolationKind, Select[Any], str]]:
    """(kind, query returning (subject, *facts), how the facts read)."""
    joined, lg, cs = _per_entry()
    consumed = func.coalesce(cs.consumed, 0)
    issued_rows, earned_rows = func.coalesce(lg.issued_rows, 0), func.coalesce(lg.earned_rows, 0)
    is_issue = e.earned_from_type == EarnedFromType.BULK_ISSUE.value
    # exactly one grant row, of the kind that matches how the entry was made, of +allowed
    wrong_grant = or_(
        issued_rows + earned_rows != 1,
        and_(is_issue, or_(issued_rows != 1, lg.issued_quantity != e.redemptions_allowed)),
        and_(not_(is_issue), or_(earned_rows != 1, lg.earned_quantity != e.redemptions_allowed)),
    )
    revokes = func.coalesce(lg.revoked_rows, 0)
    ledger_total = func.coalesce(lg.total, 0)

    # Per wallet (org, customer, promotion): ledger rows minus what the entries hold; never 0 = bad.
    wallet_delta = union_all(
        select(led.org_id, led.customer_id, led.promotion_id, led.quantity.label("delta")),
        select(e.org_id, e.customer_id, e.promotion_id, (-_left()).label("delta")),
    ).subquery("wallet_delta")
    w = wallet_delta.c

    # Per (org, entry, transactionIdentifier): consumptions minus REDEEMED ledger rows.
    redeemed_delta = union_all(
        select(
            red.org_id,
            con.earned_promotion_id.label("entry"),
            red.transaction_identifier.label("txn"),
            con.count.label("delta"),
        ).select_from(redemption_consumption_table.join(redemption_table, red.id == con.redemption_id)),
        select(led.org_id, led.earned_promotion_id, led.source, led.quantity).where(
            led.kind == LedgerKind.REDEEMED.value
        ),
    ).subquery("redeemed_delta")
    rd = redeemed_delta.c

    # Per (org, entry, reversalIdentifier): reversal lines minus REVERSED ledger rows.
    reversed_delta = union_all(
        select(
            rv.org_id,
            rvl.earned_promotion_id.label("entry"),
            rv.reversal_identifier.label("source"),
            rvl.redemption_count.label("delta"),
        )
        .select_from(redemption_reversal_line_table.join(redemption_reversal_table, rv.id == rvl.reversal_id))
        .where(rvl.earned_promotion_id.is_not(None)),
        select(led.org_id, led.earned_promotion_id, led.source, -led.quantity).where(
            led.kind == LedgerKind.REVERSED.value
        ),
    ).subquery("reversed_delta")
    vd = reversed_delta.c

    # Per (redemption, promotion): counted line totals of wallet promotions minus consumptions.
    itemised = (
        select(ln.redemption_id.label("redemption_id"))
        .where(ln.kind == "LINE_ITEM")
        .group_by(ln.redemption_id)
        .subquery("itemised")
    )
    counted = or_(ln.kind == "LINE_ITEM", itemised.c.redemption_id.is_(None))
    wallet_line = case((pro.type.in_(WALLET_TYPES), ln.redemption_count), else_=0)
    lines_delta = union_all(
        select(ln.redemption_id, ln.promotion_id, wallet_line.label("delta"))
        .select_from(
            redemption_line_table.outerjoin(promotion_table, pro.id == ln.promotion_id).outerjoin(
                itemised, itemised.c.redemption_id == ln.redemption_id
            )
        )
        .where(counted),
        select(con.redemption_id, con.promotion_id, -con.count),
    ).subquery("lines_delta")
    ld = lines_delta.c

    # Per (redemption, promotion, entry or ''): what was redeemed minus what reversals gave back;
    # below 0 = more given back than taken. Till promotions count their lines (no consumption).
    no_entry = literal("")
    given_back = union_all(
        select(con.redemption_id, con.promotion_id, con.earned_promotion_id.label("entry"), con.count),
        select(ln.redemption_id, ln.promotion_id, no_entry, ln.redemption_count)
        .select_from(
            redemption_line_table.outerjoin(promotion_table, pro.id == ln.promotion_id).outerjoin(
                itemised, itemised.c.redemption_id == ln.redemption_id
            )
        )
        .where(counted, not_(pro.type.in_(WALLET_TYPES))),
        select(
            rv.redemption_id,
            rvl.promotion_id,
            func.coalesce(rvl.earned_promotion_id, no_entry),
            -rvl.redemption_count,
        ).select_from(
            redemption_reversal_line_table.join(redemption_reversal_table, rv.id == rvl.reversal_id)
        ),
    ).subquery("given_back")
    gb = given_back.c
    named = (
        select(
            ln.redemption_id,
            ln.earned_promotion_id,
            func.sum(ln.redemption_count).label("named"),
        )
        .where(ln.kind == "LINE_ITEM", ln.earned_promotion_id.is_not(None))
        .group_by(ln.redemption_id, ln.earned_promotion_id)
        .subquery("named")
    )
    consumption_of_named = (
        select(_sum(con.count))
        .where(
            con.redemption_id == named.c.redemption_id,
            con.earned_promotion_id == named.c.earned_promotion_id,
        )
        .scalar_subquery()
    )

    entry = literal("entry ") + e.id
    consumption_target = redemption_consumption_table.join(
        redemption_table, red.id == con.redemption_id
    ).outerjoin(earned_promotion_table, e.id == con.earned_promotion_id)
    redemption_subject = literal("redemption ") + red.id + literal(" entry ") + con.earned_promotion_id
    return [
        (
            ViolationKind.USED_OUT_OF_RANGE,
            select(entry, e.redemptions_used, e.redemptions_allowed).where(
                or_(
                    e.redemptions_allowed < 1,
                    e.redemptions_used < 0,
                    e.redemptions_used > e.redemptions_allowed,
                )
            ),
            "used={} allowed={}",
        ),
        (
            ViolationKind.REVOKED_AFTER_USE,
            select(entry, e.redemptions_used).where(e.revoked_at.is_not(None), e.redemptions_used != 0),
            "revoked with used={} (only unredeemed entries may be revoked)",
        ),
        (
            ViolationKind.REDEEMED_AFTER_REVOKE,
            select(redemption_subject, red.created_at, e.revoked_at)
            .select_from(consumption_target)
            .where(e.revoked_at.is_not(None), red.created_at >= e.revoked_at),
            "redeemed at {} after revoked at {}",
        ),
        (
            ViolationKind.REDEEMED_OUTSIDE_VALIDITY,
            select(redemption_subject, red.created_at, e.unlocks_at, e.valid_till)
            .select_from(consumption_target)
            .where(or_(red.created_at < e.unlocks_at, red.created_at > e.valid_till)),
            "redeemed at {} outside [{}, {}]",
        ),
        (
            ViolationKind.CONSUMPTION_MISMATCH,
            select(entry, consumed, e.redemptions_used)
            .select_from(joined)
            .where(consumed != e.redemptions_used),
            "consumptions minus reversals add up to {} but used={}",
        ),
        (
            ViolationKind.DUPLICATE_EARNING_KEY,
            select(
                literal("earning ") + e.promotion_id + literal("/") + e.earned_from_id,
                e.org_id,
                e.customer_id,
                e.instance,
                func.count(),
            )
            .group_by(e.org_id, e.customer_id, e.promotion_id, e.earned_from_id, e.instance)
            .having(func.count() > 1),
            "org {} customer {} instance {} held {} times",
        ),
        (
            ViolationKind.DUPLICATE_ISSUE,
            select(
                literal("issue ") + e.promotion_id + literal("/") + e.earned_from_id,
                e.org_id,
                e.customer_id,
                func.count(),
            )
            .where(e.earned_from_type == EarnedFromType.BULK_ISSUE.value)
            .group_by(e.org_id, e.customer_id, e.promotion_id, e.earned_from_id)
            .having(func.count() > 1),
            "org {} customer {} got {} entries from one contextId",
        ),
        (
            ViolationKind.LEDGER_GRANT_MISMATCH,
            select(entry, e.earned_from_type, issued_rows, earned_rows, e.redemptions_allowed)
            .select_from(joined)
            .where(wrong_grant),
            "made by {} but has {} ISSUED and {} EARNED rows (want one of the matching kind, +{})",
        ),
        (
            ViolationKind.LEDGER_REVOKE_MISMATCH,
            select(entry, revokes, e.revoked_at)
            .select_from(joined)
            .where(revokes != case((e.revoked_at.is_not(None), 1), else_=0)),
            "{} REVOKED rows, revoked_at={}",
        ),
        (
            ViolationKind.LEDGER_ENTRY_MISMATCH,
            select(entry, ledger_total, _left()).select_from(joined).where(ledger_total != _left()),
            "ledger adds up to {} but the entry holds {}",
        ),
        (
            ViolationKind.LEDGER_WALLET_MISMATCH,
            select(
                literal("wallet ") + cast(w.org_id, String),
                w.customer_id,
                w.promotion_id,
                func.sum(w.delta),
            )
            .group_by(w.org_id, w.customer_id, w.promotion_id)
            .having(func.sum(w.delta) != 0),
            "customer {} promotion {}: ledger minus wallet = {}",
        ),
        (
            ViolationKind.LEDGER_ORPHAN,
            select(literal("ledger row ") + cast(led.id, String), led.kind, led.earned_promotion_id)
            .select_from(
                wallet_ledger_table.outerjoin(earned_promotion_table, e.id == led.earned_promotion_id)
            )
            .where(
                or_(
                    e.id.is_(None),
                    e.org_id != led.org_id,
                    e.customer_id != led.customer_id,
                    e.promotion_id != led.promotion_id,
                )
            ),
            "{} row names entry {}, which is not an entry of its org, customer and promotion",
        ),
        (
            ViolationKind.REDEEMED_LEDGER_MISMATCH,
            select(literal("entry ") + rd.entry, rd.txn, func.sum(rd.delta))
            .group_by(rd.org_id, rd.entry, rd.txn)
            .having(func.sum(rd.delta) != 0),
            "transaction {}: consumptions minus REDEEMED ledger = {}",
        ),
        (
            ViolationKind.CONSUMPTION_ORPHAN,
            select(redemption_subject).select_from(consumption_target).where(e.id.is_(None)),
            "consumes an entry that does not exist",
        ),
        (
            ViolationKind.CONSUMPTION_FOREIGN,
            select(redemption_subject, red.org_id, red.customer_id, e.org_id, e.customer_id)
            .select_from(consumption_target)
            .where(e.id.is_not(None), or_(e.org_id != red.org_id, e.customer_id != red.customer_id)),
            "redemption of org {} customer {} consumed an entry of org {} customer {}",
        ),
        (
            ViolationKind.CONSUMPTION_WRONG_PROMOTION,
            select(redemption_subject, con.promotion_id, e.promotion_id, con.count)
            .select_from(consumption_target)
            .where(or_(and_(e.id.is_not(None), e.promotion_id != con.promotion_id), con.count < 1)),
            "says promotion {} but the entry is of {} (count {})",
        ),
        (
            ViolationKind.CONSUMPTION_NOT_IN_LINES,
            select(literal("redemption ") + ld.redemption_id, ld.promotion_id, func.sum(ld.delta))
            .group_by(ld.redemption_id, ld.promotion_id)
            .having(func.sum(ld.delta) != 0),
            "promotion {}: counted wallet lines minus consumptions = {}",
        ),
        (
            ViolationKind.CONSUMPTION_NOT_IN_LINES,
            select(
                literal("redemption ") + named.c.redemption_id,
                named.c.earned_promotion_id,
                named.c.named,
                consumption_of_named,
            ).where(consumption_of_named < named.c.named),
            "lines name entry {} {} times but it was consumed {} times",
        ),
        (
            ViolationKind.REVERSED_LEDGER_MISMATCH,
            select(literal("entry ") + vd.entry, vd.source, func.sum(vd.delta))
            .group_by(vd.org_id, vd.entry, vd.source)
            .having(func.sum(vd.delta) != 0),
            "reversal {}: reversal lines minus REVERSED ledger = {}",
        ),
        (
            ViolationKind.REVERSAL_EXCEEDS_REDEMPTION,
            select(literal("redemption ") + gb.redemption_id, gb.promotion_id, gb.entry, func.sum(gb.count))
            .group_by(gb.redemption_id, gb.promotion_id, gb.entry)
            .having(func.sum(gb.count) < 0),
            "promotion {} entry '{}': redeemed minus reversed = {}",
        ),
    ]


async def check_connection(connection: AsyncConnection) -> list[Violation]:
    """Every violation visible on this connection (empty = the database is consistent)."""
    violations: list[Violation] = []
    # Holds are live until expires_at: their checks read the clock once, for the whole snapshot.
    checks: list[tuple[ViolationKind | HoldViolationKind, Any, str]] = [*_checks(), *hold_checks(now_ms())]
    for kind, query, template in checks:
        rows = (await connection.execute(query.limit(REPORT_LIMIT))).all()
        violations.extend(
            Violation(kind=kind, subject=str(row[0]), detail=template.format(*row[1:])) for row in rows
        )
    return violations


async def check_database(database_url: str) -> list[Violation]:
    """Run every check in one read-only snapshot of the database at `database_url`."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                # pysqlite does not begin a transaction for SELECTs; one BEGIN = one snapshot.
                await connection.exec_driver_sql("BEGIN")
            else:
                await connection.execution_options(isolation_level="REPEATABLE READ")
            try:
                return await check_connection(connection)
            finally:
                await connection.rollback()
    finally:
        await engine.dispose()


def format_report(violations: Sequence[Violation]) -> str:
    if not violations:
        return "ok: no invariant violations"
    return "\n".join([f"{len(violations)} invariant violation(s):", *(f"  {v}" for v in violations)])
