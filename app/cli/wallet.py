"""`promo-wallet wallet CUSTOMER_ID`: one customer's wallet as a table, through the wallet query
services (the same reads as GraphQL's `wallet` and REST's wallet route)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli import shell

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from rich.table import Table

    from app.domain.models import Principal
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
) -> None:
    """Print a customer's wallet as a table, soonest-expiring first, times in the org's timezone.

    A customer the org does not have is exit 2 (the API answers an empty wallet instead).

    Example: promo-wallet wallet 566881933 --org 100737 --status UNLOCKED
    """
    from zoneinfo import ZoneInfo

    from app.domain import rules
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
    settings = shell.migrated()

    async def action(uow_factory: UnitOfWorkFactory, principal: Principal) -> Table:
        found = await queries.find_customer(uow_factory, principal, CustomerLookup(customer_id=customer_id))
        if found is None:
            raise shell.BadInput(f"customer {customer_id} not found in org {principal.org_id}")
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
        zone = ZoneInfo((await get_org(uow_factory, principal.org_id)).settings.timezone)
        now = now_ms()
        shown = f"{len(page.items)} of {total}" if total > len(page.items) else str(total)
        table = _table(f"wallet of customer {customer_id} · org {principal.org_id} · {shown} entries", zone)
        for entry in page.items:
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


def _local_time(epoch_ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M")
