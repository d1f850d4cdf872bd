"""Wallet history, the wallet as of an instant (DESIGN §8.5). Plain Python.

The ledger (one row per wallet entry and change, written by every use case that changes a wallet)
is read back two ways:

- as **events**: the rows one change wrote for one promotion form one event. Their key is
  (instant, kind, promotion, source, actor): an earn of three instances writes three EARNED rows
  with one key, and is one event with `count` 3. `count` is what the event moved: entries for
  ISSUED, EARNED and REVOKED, redemptions for REDEEMED, REVERSED, HELD and RELEASED (a hold's
  counts are its allocations: its ledger rows carry quantity 0). The repository groups in SQL
  by `EVENT_KEY` itself and counts with `count_of`.
- as **the wallet at `as_of`**: `replay` replays the rows up to `as_of`, and `as_of_page` applies
  it to the entries: an entry exists once its grant row (ISSUED or EARNED) is written,
  `redemptionsUsed` is what REDEEMED rows took less what REVERSED rows gave back, REVOKED marks it
  revoked, and what holds reserve is what holds live at `as_of` allocated. Statuses are then
  `rules.earned_status` at `as_of`, the one rule the live wallet uses too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from app.domain.clock import MAX_INSTANT_MS
from app.domain.errors import InvalidRequest
from app.domain.models import EarnedPromotion, EarnedPromotionStatus, LedgerKind, Page
from app.domain.paging import check_page_size, decode_cursor, encode_cursor
from app.domain.rules import earned_status

# The ledger columns that are equal on every row one change wrote for one promotion (the instant
# first: grouping compares it before the strings).
EVENT_KEY = ("created_at", "kind", "promotion_id", "source", "actor")

ENTRY_KINDS = frozenset({LedgerKind.ISSUED, LedgerKind.EARNED, LedgerKind.REVOKED})
HOLD_KINDS = frozenset({LedgerKind.HELD, LedgerKind.RELEASED})
GRANT_KINDS = frozenset({LedgerKind.ISSUED, LedgerKind.EARNED})
# Revoke names no identifier: its rows carry this placeholder, which history shows as no source.
NO_SOURCE = frozenset({"revoke"})


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One change of one promotion in a customer's wallet, as `walletHistory` answers it."""

    id: str  # the last ledger row of the change: newest first is highest first
    kind: LedgerKind
    at: int
    customer_id: int
    promotion_id: str
    earned_promotion_id: str | None  # when the change touched exactly one entry
    redemption_id: str | None  # REDEEMED: the redemption; REVERSED: the redemption reversed
    count: int
    actor: str
    source: str | None  # contextId, earnedFromId, transactionIdentifier, reversalIdentifier or holdId


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """walletHistory's filters, checked (`check_history_query`)."""

    customer_id: int
    kinds: frozenset[LedgerKind] | None  # None: every kind
    since: int | None  # inclusive
    until: int | None  # exclusive
    first: int
    after_id: int | None  # the cursor: events with a lower id come next


@dataclass(frozen=True, slots=True)
class HistoryPage:
    page: Page[LedgerEvent]
    total_count: int | None  # None: not asked for


def count_of(kind: LedgerKind, *, rows: int, quantity: int, held: int) -> int:
    """What an event moved, from its rows: how many there are, their quantities' sum and (hold
    events) the sum of the hold's allocations of their entries."""
    if kind in ENTRY_KINDS:
        return rows
    if kind in HOLD_KINDS:
        return held
    return abs(quantity)


def shown_source(source: str) -> str | None:
    return None if source in NO_SOURCE else source


def _instant(value: int | None, name: str) -> None:
    if value is not None and not 0 <= value <= MAX_INSTANT_MS:
        raise InvalidRequest(f"{name} must be epoch milliseconds before the year 10000", field=name)


def check_history_query(
    *,
    customer_id: int,
    kinds: Iterable[LedgerKind] | None,
    since: int | None,
    until: int | None,
    first: int,
    after: str | None,
) -> HistoryQuery:
    check_page_size(first)
    _instant(since, "since")
    _instant(until, "until")
    after_id = decode_cursor(after, int)[0] if after else None
    return HistoryQuery(
        customer_id=customer_id,
        kinds=frozenset(kinds) if kinds else None,
        since=since,
        until=until,
        first=first,
        after_id=after_id,
    )


def event_cursor(event: LedgerEvent) -> str:
    return encode_cursor(int(event.id))


# ---------------------------------------------------------------------------------------------
# The wallet as of an instant


@dataclass(frozen=True, slots=True)
class LedgerMove:
    """A ledger row of one entry, as the rebuild reads it."""

    kind: LedgerKind
    earned_promotion_id: str
    quantity: int
    at: int


@dataclass(frozen=True, slots=True)
class HeldSpan:
    """A hold's reservation of one entry and when it was live: from `held_at` until `ends_at`
    (its expiry, or its commit or release if that came first), `ends_at` excluded."""

    earned_promotion_id: str
    count: int
    held_at: int
    ends_at: int


@dataclass(frozen=True, slots=True)
class AsOfWindow:
    """The part of a wallet a page without a status filter needs: the order never depends on the
    replay, so the first `first + 1` granted entries after the cursor key are all it reads."""

    first: int
    after: tuple[int, str] | None  # (validTill, id) of the last entry seen


@dataclass(frozen=True, slots=True)
class AsOfSources:
    """What `rebuild` replays: entries (with `window`, only the window's, and `total` the number
    of granted entries), their ledger rows written by `as_of` and the spans of holds made by then."""

    entries: list[EarnedPromotion]
    moves: list[LedgerMove]
    spans: list[HeldSpan]
    total: int | None = None


def as_of_window(
    statuses: Sequence[EarnedPromotionStatus] | None, first: int, after: str | None
) -> AsOfWindow | None:
    """The window a page needs, or None when a status filter needs the whole wallet replayed."""
    if statuses:
        return None
    last = decode_cursor(after, int, str) if after else None
    return AsOfWindow(first=first, after=(int(last[0]), str(last[1])) if last else None)


def check_as_of(as_of: int) -> int:
    _instant(as_of, "asOf")
    return as_of


@dataclass(frozen=True, slots=True)
class Replay:
    """What the ledger says changed by an instant: which entries were granted, and each one's
    used count, revocation and held count then."""

    granted: frozenset[str]
    used: dict[str, int]
    revoked: dict[str, int]
    held: dict[str, int]

    def entry(self, entry: EarnedPromotion) -> EarnedPromotion:
        return replace(
            entry,
            redemptions_used=self.used.get(entry.id, 0),
            revoked_at=self.revoked.get(entry.id),
            redemptions_held=self.held.get(entry.id, 0),
        )


def replay(moves: Iterable[LedgerMove], spans: Iterable[HeldSpan], as_of: int) -> Replay:
    """The ledger rows and hold spans written by `as_of`, replayed (later ones are ignored, so
    callers may pass more)."""
    granted: set[str] = set()
    used: dict[str, int] = {}
    revoked: dict[str, int] = {}
    for move in moves:
        if move.at > as_of:
            continue
        entry_id = move.earned_promotion_id
        if move.kind in GRANT_KINDS:
            granted.add(entry_id)
        elif move.kind in (LedgerKind.REDEEMED, LedgerKind.REVERSED):
            used[entry_id] = used.get(entry_id, 0) - move.quantity
        elif move.kind is LedgerKind.REVOKED:
            revoked[entry_id] = min(move.at, revoked.get(entry_id, move.at))
    held: dict[str, int] = {}
    for span in spans:
        if span.held_at <= as_of < span.ends_at:
            held[span.earned_promotion_id] = held.get(span.earned_promotion_id, 0) + span.count
    return Replay(granted=frozenset(granted), used=used, revoked=revoked, held=held)


def as_of_page(
    entries: Sequence[EarnedPromotion],
    replayed: Replay,
    *,
    as_of: int,
    statuses: Sequence[EarnedPromotionStatus] | None,
    first: int,
    after: str | None,
) -> tuple[Page[EarnedPromotion], int]:
    """A page of the wallet at `as_of` (`entries` as stored, `replayed` what changed them by then),
    soonest-expiring first with the live wallet's cursors, and the number of entries that match
    `statuses` (its totalCount). The order never depends on the replay, so without a status filter
    only the page's entries are rebuilt."""
    check_page_size(first)
    last = decode_cursor(after, int, str) if after else None
    matching = sorted((x for x in entries if x.id in replayed.granted), key=lambda x: (x.valid_till, x.id))
    if statuses:
        wanted = set(statuses)
        matching = [x for x in map(replayed.entry, matching) if earned_status(x, as_of) in wanted]
    following = [x for x in matching if last is None or (x.valid_till, x.id) > last]
    items = [x if statuses else replayed.entry(x) for x in following[:first]]
    return (
        Page(
            items=items,
            cursors=[encode_cursor(x.valid_till, x.id) for x in items],
            has_next_page=len(following) > first,
        ),
        len(matching),
    )
