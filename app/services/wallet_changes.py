"""walletChanged (DESIGN §8.6): each entry of a wallet that changes, after the change commits.

The ledger is the feed: every change to a wallet appends its rows under the wallet's lock, so the
customer's rows in id order are in commit order, and a follower that remembers the last row it
read misses nothing and repeats nothing, whichever process wrote. The feed's signals only say when
to read (domain/ports.py WalletChangeSignal); an idle follower reads anyway now and then, so a
signal lost on the way (a listener reconnecting, another SQLite process) delays, never loses.
Scoped by construction: the rows read are the caller's org's, so another org's customer of the
same id yields nothing, ever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from app.domain.clock import now_ms
from app.domain.models import EarnedPromotion, Principal
from app.domain.ports import UnitOfWorkFactory

ROWS_PER_READ = 500


async def follow_wallet(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    customer_id: int,
    *,
    rows_per_read: int = ROWS_PER_READ,
) -> AsyncIterator[EarnedPromotion]:
    """Entries of the customer's wallet as each change to them commits, from the moment of the call
    on (what was committed before is not sent); runs until the caller stops iterating."""
    org_id = principal.org_id
    # Follow first, then read where the ledger ends: a change committed in between wakes us.
    feed = uow_factory.wallet_changes
    signal = feed.follow(org_id, customer_id)
    try:
        async with uow_factory() as uow:
            position = await uow.ledger.last_position(org_id, customer_id)
        while True:
            await signal.wait(feed.idle_read_s)
            complete = False
            while not complete:
                async with uow_factory() as uow:
                    changes = await uow.ledger.changed_since(
                        org_id, customer_id, position, limit=rows_per_read
                    )
                    entries = (
                        await uow.wallet.get_many(org_id, changes.entry_ids, now=now_ms())
                        if changes.entry_ids
                        else {}
                    )
                position, complete = changes.position, changes.complete
                for entry_id in changes.entry_ids:
                    if entry_id in entries:
                        yield entries[entry_id]
    finally:
        signal.close()
