"""`promo-wallet wallet CUSTOMER_ID`: one customer's wallet as a table, through the wallet query
services (the same reads as GraphQL's `wallet` and REST's wallet route)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli import shell

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from zoneinfo import ZoneInfo

    from rich.table import Table

    from app.domain.models import EarnedPromotion, EarnedPromotionStatus, Principal, Promotion
    from app.domain.ports import UnitOfWorkFactory

STATUS_STYLE = {
    "UNLOCKED": "green",
    "LOCKED": "yellow",
    "REDEEMED": "blue",
    "EXPIRED": "dim",
    "REVOKED": "red",
}


def wallet(
    customer_id: Annotated[int, typer.Argument(help="The customer's id.")],
    org: shell.OrgOption = None,
    client: shell.ClientOption = None,
    secret: shell.SecretOption = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="UNLOCKED, LOCKED, REDEEMED, EXPIRED or REVOKED; repeatable."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="Entries to show.")] = 100,
    history: Annotated[
        bool, typer.Option("--history", help="Print the wallet's history instead: its changes, newest first.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Print the wallet as it stood then, rebuilt from its ledger: epoch milliseconds or an "
            "ISO-8601 time (without an offset: in the org's timezone).",
        ),
    ] = None,
) -> None:
    """Print a customer's wallet as a table, soonest-expiring first, times in the org's timezone.

    A customer the org does not have is exit 2 (the API answers an empty wallet instead).

    Examples: promo-wallet wallet 566881933 --org 100737 --status UNLOCKED
              promo-wallet wallet 566881933 --org 100737 --history
              promo-wallet wallet 566881933 --org 100737 --as-of 2025-05-31T18:00
    """
    from zoneinfo import ZoneInfo

    from app.domain.clock import now_ms
    from app.domain.commands import CustomerLookup
    from app.domain.models import EarnedPromotionStatus, Scope
    from app.services import queries
    from app.services.admin import get_org

    out, err = shell.stdout(), shell.stderr()
    try:
        statuses = [EarnedPromotionStatus(s.upper()) for s in status] if status else None
    except ValueError as error:
        raise shell.fail(err, str(error)) from error
    if history and as_of is not None:
        raise shell.fail(err, "give --history or --as-of, not both")
    settings = shell.migrated()

    async def action(uow_factory: UnitOfWorkFactory, principal: Principal) -> Table:
        found = await queries.find_customer(uow_factory, principal, CustomerLookup(customer_id=customer_id))
        if found is None:
            raise shell.BadInput(f"customer {customer_id} not found in org {principal.org_id}")
        zone = ZoneInfo((await get_org(uow_factory, principal.org_id)).settings.timezone)
        if history:
            return await _history_table(uow_factory, principal, customer_id, limit, zone)
        if as_of is not None:
            return await _as_of_table(uow_factory, principal, customer_id, statuses, limit, zone, as_of)
        page = await queries.wallet_page(
            uow_factory,
            principal,
            customer_id=customer_id,
            statuses=statuses,
            promotion_id=None,
            first=limit,
            after=None,
        )
        total = await queries.wallet_count(
            uow_factory, principal, customer_id=customer_id, statuses=statuses, promotion_id=None
        )
        promotions = await queries.promotions_by_id(
            uow_factory, principal.org_id, sorted({entry.promotion_id for entry in page.items})
        )
        now = now_ms()
        shown = f"{len(page.items)} of {total}" if total > len(page.items) else str(total)
        table = _table(f"wallet of customer {customer_id} · org {principal.org_id} · {shown} entries", zone)
        _add_entries(table, page.items, promotions, now, zone)
        return table

    table = shell.run_as(
        err, settings, org=org, client=client, secret=secret, needs=Scope.WALLET_READ, action=action
    )
    out.print(table)


def _table(title: str, zone: ZoneInfo) -> Table:
    from rich.table import Table

    table = Table(title=title, caption=f"times in {zone.key}")
    for name in ("promotion", "type", "status", "used", "valid till", "earned from"):
        table.add_column(name, justify="right" if name == "used" else "left", overflow="fold")
    # Entry ids are copied into other commands: never folded or cut, whatever the terminal width.
    table.add_column("entry", no_wrap=True, overflow="ignore", min_width=24)
    return table


def _local_time(epoch_ms: int, zone: ZoneInfo, *, seconds: bool = False) -> str:
    shape = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).astimezone(zone).strftime(shape)


def _add_entries(
    table: Table,
    entries: Sequence[EarnedPromotion],
    promotions: Mapping[str, Promotion],
    now: int,
    zone: ZoneInfo,
) -> None:
    from app.domain import rules

    for entry in entries:
        promotion = promotions.get(entry.promotion_id)
        state = rules.earned_status(entry, now).value
        table.add_row(
            promotion.name if promotion else entry.promotion_id,
            promotion.type.value if promotion else "",
            f"[{STATUS_STYLE.get(state, '')}]{state}[/]",
            f"{entry.redemptions_used}/{entry.redemptions_allowed}",
            _local_time(entry.valid_till, zone),
            f"{entry.earned_from_type.value} {entry.earned_from_id}",
            entry.id,
        )


def parse_instant(text: str, zone: ZoneInfo) -> int:
    """Epoch milliseconds, or an ISO-8601 time (without an offset: in `zone`)."""
    value = text.strip()
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise shell.BadInput(
            f"--as-of {text!r} is neither epoch milliseconds nor an ISO-8601 time"
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return int(moment.timestamp() * 1000)


async def _as_of_table(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    customer_id: int,
    statuses: list[EarnedPromotionStatus] | None,
    limit: int,
    zone: ZoneInfo,
    as_of_text: str,
) -> Table:
    from app.services import history, queries

    as_of = parse_instant(as_of_text, zone)
    view = await history.wallet_as_of(
        uow_factory,
        principal,
        customer_id=customer_id,
        as_of=as_of,
        statuses=statuses,
        first=limit,
        after=None,
    )
    items, total = view.page.items, view.total_count or 0
    promotions = await queries.promotions_by_id(
        uow_factory, principal.org_id, sorted({entry.promotion_id for entry in items})
    )
    shown = f"{len(items)} of {total}" if total > len(items) else str(total)
    table = _table(
        f"wallet of customer {customer_id} · org {principal.org_id} · as of {_local_time(as_of, zone)} "
        f"· {shown} entries",
        zone,
    )
    _add_entries(table, items, promotions, as_of, zone)
    return table


async def _history_table(
    uow_factory: UnitOfWorkFactory, principal: Principal, customer_id: int, limit: int, zone: ZoneInfo
) -> Table:
    from rich.table import Table

    from app.services import history

    query = history.history_query(
        customer_id=customer_id, kinds=None, since=None, until=None, first=limit, after=None
    )
    found = await history.wallet_history(uow_factory, principal, query, with_count=True)
    events, total = found.page.items, found.total_count or 0
    shown = f"{len(events)} of {total}" if total > len(events) else str(total)
    table = Table(
        title=f"history of customer {customer_id} · org {principal.org_id} · {shown} events, newest first",
        caption=f"times in {zone.key}",
    )
    for name in ("when", "kind", "count", "promotion", "entry", "actor", "source"):
        table.add_column(name, justify="right" if name == "count" else "left", overflow="fold")
    for event in events:
        table.add_row(
            _local_time(event.at, zone, seconds=True),
            event.kind.value,
            str(event.count),
            event.promotion_id,
            event.earned_promotion_id or "",
            event.actor,
            event.source or "",
        )
    return table
