"""`promo-wallet promotions create`: the createPromotion admin use case from the shell. Dates are
read here (a calendar date is a whole day in the org's timezone); the defaults and every check
are the command's and the service's (CreatePromotion.with_defaults, services/admin.py)."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli import shell

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from app.domain.models import Principal, Promotion
    from app.domain.ports import UnitOfWorkFactory

app = typer.Typer(help="Manage promotions.", no_args_is_help=True)

TYPES = "CUSTOMER, EARNING, REWARD (held in wallets), POS or CODE (applied at the till)"


def instant(value: str, zone: ZoneInfo, *, end_of_day: bool, option: str) -> int:
    """Epoch milliseconds from `value`: digits are epoch milliseconds; YYYY-MM-DD is the start of
    that day in `zone` (or, for an end, its last millisecond); else an ISO-8601 date-time, in
    `zone` unless it names its own offset (Z, +05:30)."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        if end_of_day:
            day += timedelta(days=1)
        start = datetime.combine(day, time.min, tzinfo=zone)
        return int(start.timestamp() * 1000) - (1 if end_of_day else 0)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise shell.BadInput(
            f"{option} {value!r}: give YYYY-MM-DD, an ISO date-time or epoch milliseconds"
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return int(moment.timestamp() * 1000)


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="What customers and tills see.")],
    type: Annotated[str, typer.Option("--type", help=TYPES + ".")],
    end: Annotated[
        str, typer.Option("--end", help="Last day (YYYY-MM-DD, through its end), a date-time or epoch ms.")
    ],
    start: Annotated[
        str | None,
        typer.Option(
            "--start", help="First day (YYYY-MM-DD, from its start), a date-time or epoch ms (default: now)."
        ),
    ] = None,
    active: Annotated[
        bool | None,
        typer.Option("--active/--inactive", help="Whether it can be issued and earned (default: active)."),
    ] = None,
    redemption_window_days: Annotated[
        int | None, typer.Option("--redemption-window-days", help="Days an entry stays valid once earned.")
    ] = None,
    max_redemptions_per_earn: Annotated[
        int | None,
        typer.Option("--max-redemptions-per-earn", help="Redemptions per wallet entry (default: 1)."),
    ] = None,
    max_earns_per_customer: Annotated[
        int | None,
        typer.Option("--max-earns-per-customer", help="Entries one customer may hold (default: no limit)."),
    ] = None,
    org: shell.OrgOption = None,
    client: shell.ClientOption = None,
    secret: shell.SecretOption = None,
) -> None:
    """Create a promotion (the createPromotion mutation); prints it as one JSON object.

    Dates given as YYYY-MM-DD are days in the org's timezone: --start from the first
    millisecond of its day, --end through the last. Needs --org N (operator) or an admin client.
    Exit codes: 0 created, 2 bad input or refused (e.g. the active-promotion cap), 1 the database
    was busy (521): run it again.

    Example: promo-wallet promotions create --org 100737 --name "Spring 10% off" --type CUSTOMER
    --start 2030-03-01 --end 2030-05-31 --max-redemptions-per-earn 2
    """
    from zoneinfo import ZoneInfo

    from app.domain.commands import CreatePromotion
    from app.domain.models import PromotionType, Scope
    from app.services.admin import create_promotion, get_org

    err = shell.stderr()
    try:
        promotion_type = PromotionType(type.upper())
    except ValueError as error:
        raise shell.fail(err, f"--type {type!r}: one of {TYPES}") from error
    settings = shell.migrated()

    async def action(uow_factory: UnitOfWorkFactory, principal: Principal) -> Promotion:
        from app.domain.clock import now_ms

        zone = ZoneInfo((await get_org(uow_factory, principal.org_id)).settings.timezone)
        command = CreatePromotion.with_defaults(
            name=name,
            type=promotion_type,
            start_date=now_ms()
            if start is None
            else instant(start, zone, end_of_day=False, option="--start"),
            end_date=instant(end, zone, end_of_day=True, option="--end"),
            active=active,
            redemption_window_days=redemption_window_days,
            max_redemptions_per_earn=max_redemptions_per_earn,
            max_earns_per_customer=max_earns_per_customer,
        )
        return await create_promotion(uow_factory, principal, command)

    promotion = shell.run_as(
        err, settings, org=org, client=client, secret=secret, needs=Scope.ADMIN, action=action
    )
    typer.echo(json.dumps(_as_json(promotion)))


def _as_json(promotion: Promotion) -> dict[str, object]:
    from app.domain import rules
    from app.domain.clock import now_ms, to_iso

    return {
        "id": promotion.id,
        "name": promotion.name,
        "type": promotion.type.value,
        "status": rules.promotion_status(promotion, now_ms()).value,
        "startDate": promotion.start_date,
        "startDateISO": to_iso(promotion.start_date),
        "endDate": promotion.end_date,
        "endDateISO": to_iso(promotion.end_date),
        "active": promotion.active,
        "redemptionWindowDays": promotion.redemption_window_days,
        "maxRedemptionsPerEarn": promotion.max_redemptions_per_earn,
        "maxEarnsPerCustomer": promotion.max_earns_per_customer,
    }
