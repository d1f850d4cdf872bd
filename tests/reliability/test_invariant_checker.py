"""The invariant checker: silent on a database the services wrote, and each kind of violation is
caught in a deliberately corrupted copy of it.

The corruptions are made in TEMP tables that shadow the real ones on the checker's connection
(both SQLite and PostgreSQL search the temporary schema first), so no constraint stands in the
way of a duplicate or an orphan, and nothing leaks into the shared test database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.persistence.invariants import ViolationKind, check_connection, check_database
from app.persistence.tables import (
    earned_promotion_table,
    redemption_consumption_table,
    redemption_line_table,
    redemption_reversal_line_table,
    redemption_table,
    wallet_ledger_table,
)
from tests.conftest import ORG_ID
from tests.lifecycle_documents import REVERSE
from tests.reliability.harness import EARN, ISSUE, REDEEM, REVOKE, engine_for
from tests.support import ROOT, GraphQLClient
from tests.wallet_world import line, purchase

e = earned_promotion_table.c
led = wallet_ledger_table.c
con = redemption_consumption_table.c
SHADOWED = (
    "earned_promotion",
    "wallet_ledger",
    "redemption",
    "redemption_line",
    "redemption_consumption",
    "redemption_reversal",
    "redemption_reversal_line",
)


@dataclass
class Seeded:
    promotion: str
    pos: str
    issued: dict[int, str]  # customer -> entry of contextId "ctx-1"
    earned: list[str]  # customer 1's EARNED entries
    t2: str  # redemption id of customer 2's purchase, which named issued[2]


@pytest.fixture
async def seeded(gql: GraphQLClient) -> Seeded:
    """A small but complete history, written by the services: issue, earn, redeem (one purchase
    spanning two entries and a POS line, one naming its entry), a partial reversal of the first
    purchase (one wallet count and the POS line) and revoke."""
    promotion = (await gql.create_promotion(maxRedemptionsPerEarn=3))["id"]
    pos = (await gql.create_promotion(type="POS"))["id"]
    await gql.create_customers(1, 2, 3)
    issued = (await gql.data(ISSUE, {"p": promotion, "c": "ctx-1", "ids": [1, 2, 3]}))["issuePromotion"]
    assert issued["__typename"] == "IssuePromotionSuccess", issued
    earn = {
        "customerId": 1,
        "eventTime": 1761750000000,
        "earnedFromType": "ACTIVITY",
        "eventDetails": {"id": "visit", "type": "ACTIVITY"},
        "earnedPromotions": [{"promotionId": promotion, "earnedFromId": "order-1", "earnCount": 2}],
    }
    earned = (await gql.data(EARN, {"input": earn}))["earnPromotions"]
    assert earned["__typename"] == "EarnPromotionsSuccess", earned
    entries = {int(x["customerId"]): x["id"] for x in issued["earnedPromotions"]}
    t1 = await gql.data(REDEEM, {"input": purchase(1, line(promotion, 4), line(pos), txn="t1")})
    assert t1["redeemPromotions"]["__typename"] == "RedeemPromotionsSuccess", t1
    assert len(t1["redeemPromotions"]["redemption"]["consumed"]) == 2
    t2 = await gql.data(
        REDEEM, {"input": purchase(2, line(promotion, 1, earnedPromotionId=entries[2]), txn="t2")}
    )
    assert t2["redeemPromotions"]["__typename"] == "RedeemPromotionsSuccess", t2
    reversal = {
        "transactionIdentifier": "t1",
        "reversalIdentifier": "refund-t1",
        "lines": [
            {"promotionId": promotion, "redemptionCount": 1},
            {"promotionId": pos, "redemptionCount": 1},
        ],
    }
    reversed_ = await gql.data(REVERSE, {"input": reversal})
    assert reversed_["reverseRedemption"]["redemption"]["status"] == "PARTIALLY_REVERSED", reversed_
    revoked = await gql.data(REVOKE, {"c": 3, "ids": [entries[3]]})
    assert revoked["revokeEarnedPromotions"]["revokedCount"] == 1, revoked
    return Seeded(
        promotion=promotion,
        pos=pos,
        issued=entries,
        earned=[x["id"] for x in earned["results"][0]["customerEarnedPromotions"]],
        t2=t2["redeemPromotions"]["redemption"]["id"],
    )


async def shadow(connection: AsyncConnection) -> None:
    source = "main" if connection.dialect.name == "sqlite" else "public"
    for table in SHADOWED:
        await connection.exec_driver_sql(f"CREATE TEMP TABLE {table} AS SELECT * FROM {source}.{table}")


async def copy_entry(connection: AsyncConnection, entry_id: str, new_id: str, **changes: Any) -> None:
    row = (await connection.execute(select(earned_promotion_table).where(e.id == entry_id))).one()
    await connection.execute(
        insert(earned_promotion_table).values(dict(row._mapping) | {"id": new_id} | changes)
    )


def entry_update(entry_id: str, **values: Any) -> Any:
    return update(earned_promotion_table).where(e.id == entry_id).values(**values)


def ledger_update(entry_id: str, of_kind: str, **values: Any) -> Any:
    return (
        update(wallet_ledger_table)
        .where(led.earned_promotion_id == entry_id, led.kind == of_kind)
        .values(**values)
    )


Corruption = Callable[[AsyncConnection, Seeded], Awaitable[Any]]

CORRUPTIONS: dict[ViolationKind, Corruption] = {
    ViolationKind.USED_OUT_OF_RANGE: lambda c, s: c.execute(entry_update(s.issued[2], redemptions_used=4)),
    ViolationKind.REVOKED_AFTER_USE: lambda c, s: c.execute(entry_update(s.issued[2], revoked_at=10**13)),
    ViolationKind.REDEEMED_AFTER_REVOKE: lambda c, s: c.execute(entry_update(s.issued[2], revoked_at=1)),
    ViolationKind.REDEEMED_OUTSIDE_VALIDITY: lambda c, s: c.execute(entry_update(s.issued[2], valid_till=1)),
    ViolationKind.CONSUMPTION_MISMATCH: lambda c, s: c.execute(entry_update(s.issued[2], redemptions_used=0)),
    ViolationKind.DUPLICATE_EARNING_KEY: lambda c, s: copy_entry(c, s.earned[0], "d" * 24),
    ViolationKind.DUPLICATE_ISSUE: lambda c, s: copy_entry(c, s.issued[1], "d" * 24, instance=2),
    ViolationKind.LEDGER_GRANT_MISMATCH: lambda c, s: c.execute(
        ledger_update(s.issued[1], "ISSUED", kind="EARNED")
    ),
    ViolationKind.LEDGER_REVOKE_MISMATCH: lambda c, s: c.execute(
        delete(wallet_ledger_table).where(led.earned_promotion_id == s.issued[3], led.kind == "REVOKED")
    ),
    ViolationKind.LEDGER_ENTRY_MISMATCH: lambda c, s: c.execute(
        ledger_update(s.issued[2], "REDEEMED", quantity=led.quantity - 1)
    ),
    ViolationKind.LEDGER_WALLET_MISMATCH: lambda c, s: c.execute(
        insert(wallet_ledger_table).values(
            id=10**9,
            org_id=ORG_ID,
            customer_id=2,
            promotion_id=s.promotion,
            earned_promotion_id=None,
            kind="EARNED",
            quantity=1,
            actor="corruption",
            source="x",
            created_at=0,
        )
    ),
    ViolationKind.LEDGER_ORPHAN: lambda c, s: c.execute(ledger_update(s.issued[2], "ISSUED", customer_id=3)),
    ViolationKind.REDEEMED_LEDGER_MISMATCH: lambda c, s: c.execute(
        ledger_update(s.issued[2], "REDEEMED", source="another-transaction")
    ),
    ViolationKind.CONSUMPTION_ORPHAN: lambda c, s: c.execute(
        update(redemption_consumption_table)
        .where(con.earned_promotion_id == s.issued[2])
        .values(earned_promotion_id="0" * 24)
    ),
    ViolationKind.CONSUMPTION_FOREIGN: lambda c, s: c.execute(
        update(redemption_table).where(redemption_table.c.id == s.t2).values(customer_id=1)
    ),
    ViolationKind.CONSUMPTION_WRONG_PROMOTION: lambda c, s: c.execute(
        update(redemption_consumption_table)
        .where(con.earned_promotion_id == s.issued[2])
        .values(promotion_id=s.pos)
    ),
    ViolationKind.CONSUMPTION_NOT_IN_LINES: lambda c, s: c.execute(
        update(redemption_line_table)
        .where(redemption_line_table.c.redemption_id == s.t2)
        .values(redemption_count=2)
    ),
    ViolationKind.REVERSED_LEDGER_MISMATCH: lambda c, s: c.execute(
        update(wallet_ledger_table).where(led.kind == "REVERSED").values(source="another-reversal")
    ),
    ViolationKind.REVERSAL_EXCEEDS_REDEMPTION: lambda c, s: c.execute(
        update(redemption_reversal_line_table)
        .where(redemption_reversal_line_table.c.earned_promotion_id.is_(None))
        .values(redemption_count=2)
    ),
}


async def test_a_database_written_by_the_services_has_no_violations(
    seeded: Seeded, database_url: str
) -> None:
    assert await check_database(database_url) == []
    # and the shadow copies used below are faithful: untouched, they are clean too
    engine = engine_for(database_url)
    try:
        async with engine.connect() as connection:
            await shadow(connection)
            assert await check_connection(connection) == []
    finally:
        await engine.dispose()


def test_every_violation_kind_has_a_corruption_below() -> None:
    assert set(CORRUPTIONS) == set(ViolationKind)


async def test_the_checker_catches_each_kind_of_corruption(seeded: Seeded, database_url: str) -> None:
    # One seeded database, one fresh connection (so fresh shadow copies) per corruption.
    missed: dict[str, list[str]] = {}
    engine = engine_for(database_url)
    try:
        for kind, corrupt in CORRUPTIONS.items():
            async with engine.connect() as connection:
                # given a faithful copy of a consistent database
                await shadow(connection)
                # when it is corrupted in one way
                await corrupt(connection, seeded)
                # then the checker names that way
                violations = await check_connection(connection)
            if kind not in {v.kind for v in violations}:
                missed[kind] = [str(v) for v in violations]
    finally:
        await engine.dispose()
    assert not missed, missed


CHECKER_COMMANDS = {
    "promo-wallet check-invariants": [sys.executable, "-m", "app.cli", "check-invariants"],
    "python -m app.invariants (the alias)": [sys.executable, "-m", "app.invariants"],
}


def run_checker(command: list[str], database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, "--database-url", database_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", CHECKER_COMMANDS.values(), ids=CHECKER_COMMANDS.keys())
async def test_the_command_exits_non_zero_on_violations(
    seeded: Seeded, database_url: str, command: list[str]
) -> None:
    clean = run_checker(command, database_url)
    assert clean.returncode == 0, clean.stderr
    assert "no invariant violations" in clean.stdout
    engine = engine_for(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(entry_update(seeded.issued[2], redemptions_used=4))
    finally:
        await engine.dispose()
    broken = run_checker(command, database_url)
    assert broken.returncode == 1
    assert "USED_OUT_OF_RANGE" in broken.stderr
