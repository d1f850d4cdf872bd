"""SQLModel tables. Instants are stored as epoch milliseconds (BIGINT): the same exact value on
SQLite and PostgreSQL, no timezone conversion at the driver, and the unit the API speaks.
Money and quantities are stored as canonical decimal strings, exact on both databases.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


class OrgRow(SQLModel, table=True):
    __tablename__ = "org"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    timezone: str = Field(default="UTC", sa_column=Column(String(64), nullable=False))
    max_active_promotions: int = Field(default=250, sa_column=Column(Integer, nullable=False))
    redemption_without_evaluation: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    web_engage_account_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class ApiClientRow(SQLModel, table=True):
    __tablename__ = "api_client"

    id: int | None = Field(default=None, sa_column=Column(AutoId, primary_key=True, autoincrement=True))
    org_id: int = Field(sa_column=Column(BigInteger, ForeignKey("org.id"), nullable=False, index=True))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    username: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    secret_hash: str = Field(sa_column=Column(String(255), nullable=False))
    scopes: str = Field(sa_column=Column(String(255), nullable=False))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class AccessTokenRow(SQLModel, table=True):
    __tablename__ = "access_token"

    token_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    client_id: int = Field(sa_column=Column(BigInteger, ForeignKey("api_client.id"), nullable=False))
    expires_at: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))


class CustomerRow(SQLModel, table=True):
    __tablename__ = "customer"

    org_id: int = Field(sa_column=Column(BigInteger, ForeignKey("org.id"), primary_key=True))
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class CustomerIdentifierRow(SQLModel, table=True):
    __tablename__ = "customer_identifier"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "customer_id"], ["customer.org_id", "customer.id"]),
        UniqueConstraint("org_id", "customer_id", "type", name="uq_customer_identifier_kind"),
    )

    org_id: int = Field(sa_column=Column(BigInteger, primary_key=True))
    type: str = Field(sa_column=Column(String(16), primary_key=True))
    value: str = Field(sa_column=Column(String(250), primary_key=True))
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))


class PromotionRow(SQLModel, table=True):
    __tablename__ = "promotion"
    __table_args__ = (
        Index("ix_promotion_org_id_id", "org_id", "id"),
        Index("ix_promotion_org_active_end", "org_id", "active", "end_date"),
    )

    id: str = Field(sa_column=Column(String(24), primary_key=True))
    org_id: int = Field(sa_column=Column(BigInteger, ForeignKey("org.id"), nullable=False))
    name: str = Field(sa_column=Column(String(50), nullable=False))
    type: str = Field(sa_column=Column(String(16), nullable=False))
    start_date: int = Field(sa_column=Column(BigInteger, nullable=False))
    end_date: int = Field(sa_column=Column(BigInteger, nullable=False))
    active: bool = Field(sa_column=Column(Boolean, nullable=False))
    redemption_window_days: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    max_redemptions_per_earn: int = Field(sa_column=Column(Integer, nullable=False))
    max_earns_per_customer: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class EarnedPromotionRow(SQLModel, table=True):
    """A wallet entry. The earning key (customer, promotion, earnedFromId, instance) is unique,
    which is what makes issue and earn idempotent under concurrent repeats."""

    __tablename__ = "earned_promotion"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "customer_id"], ["customer.org_id", "customer.id"]),
        UniqueConstraint(
            "org_id", "customer_id", "promotion_id", "earned_from_id", "instance", name="uq_earning_key"
        ),
        Index("ix_earned_promotion_wallet", "org_id", "customer_id", "valid_till", "id"),
        Index("ix_earned_promotion_source", "org_id", "promotion_id", "earned_from_id"),
    )

    id: str = Field(sa_column=Column(String(24), primary_key=True))
    org_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    promotion_id: str = Field(sa_column=Column(String(24), ForeignKey("promotion.id"), nullable=False))
    earned_from_type: str = Field(sa_column=Column(String(16), nullable=False))
    earned_from_id: str = Field(sa_column=Column(String(250), nullable=False))
    instance: int = Field(sa_column=Column(Integer, nullable=False))
    event_time: int = Field(sa_column=Column(BigInteger, nullable=False))
    event_details_id: str | None = Field(default=None, sa_column=Column(String(250), nullable=True))
    event_details_type: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    valid_till: int = Field(sa_column=Column(BigInteger, nullable=False))
    unlocks_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    redemptions_allowed: int = Field(sa_column=Column(Integer, nullable=False))
    redemptions_used: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    revoked_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class RedemptionRow(SQLModel, table=True):
    __tablename__ = "redemption"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "customer_id"], ["customer.org_id", "customer.id"]),
        UniqueConstraint("org_id", "transaction_identifier", name="uq_redemption_transaction"),
        Index("ix_redemption_customer", "org_id", "customer_id", "id"),
        Index("ix_redemption_org_id", "org_id", "id"),
    )

    id: str = Field(sa_column=Column(String(24), primary_key=True))
    org_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    customer_identifier_type: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    customer_identifier_value: str | None = Field(default=None, sa_column=Column(String(250), nullable=True))
    transaction_identifier: str = Field(sa_column=Column(String(250), nullable=False))
    transaction_number: str = Field(sa_column=Column(String(250), nullable=False))
    transaction_date: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount: str = Field(sa_column=Column(String(40), nullable=False))
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class RedemptionLineRow(SQLModel, table=True):
    """A line of a redemption: kind LINE_ITEM (the request's lineItems) or REDEMPTION."""

    __tablename__ = "redemption_line"
    __table_args__ = (Index("ix_redemption_line_promotion", "promotion_id", "redemption_id"),)

    id: int | None = Field(default=None, sa_column=Column(AutoId, primary_key=True, autoincrement=True))
    redemption_id: str = Field(
        sa_column=Column(String(24), ForeignKey("redemption.id"), nullable=False, index=True)
    )
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    position: int = Field(sa_column=Column(Integer, nullable=False))
    sku: str | None = Field(default=None, sa_column=Column(String(250), nullable=True))
    promotion_id: str = Field(sa_column=Column(String(24), nullable=False))
    earned_promotion_id: str | None = Field(default=None, sa_column=Column(String(24), nullable=True))
    redemption_count: int = Field(sa_column=Column(Integer, nullable=False))
    discount: str = Field(sa_column=Column(String(40), nullable=False))
    discount_applied_on_quantity: str = Field(sa_column=Column(String(40), nullable=False))
    promotion_applied_on_quantity: str = Field(sa_column=Column(String(40), nullable=False))


class RedemptionConsumptionRow(SQLModel, table=True):
    """Which wallet entries a redemption consumed, and how many redemptions of each."""

    __tablename__ = "redemption_consumption"

    redemption_id: str = Field(sa_column=Column(String(24), ForeignKey("redemption.id"), primary_key=True))
    earned_promotion_id: str = Field(
        sa_column=Column(String(24), ForeignKey("earned_promotion.id"), primary_key=True)
    )
    promotion_id: str = Field(sa_column=Column(String(24), nullable=False))
    count: int = Field(sa_column=Column(Integer, nullable=False))


class RedemptionReversalRow(SQLModel, table=True):
    """A reversal of (part of) a redemption; the reversalIdentifier is unique in the org, which is
    what makes reverseRedemption idempotent under concurrent repeats."""

    __tablename__ = "redemption_reversal"
    __table_args__ = (
        UniqueConstraint("org_id", "reversal_identifier", name="uq_reversal_identifier"),
        # Numbered under the wallet lock; unique, so two reversals can never both be "the next".
        UniqueConstraint("redemption_id", "number", name="uq_reversal_number"),
    )

    id: str = Field(sa_column=Column(String(24), primary_key=True))
    org_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    redemption_id: str = Field(sa_column=Column(String(24), ForeignKey("redemption.id"), nullable=False))
    number: int = Field(sa_column=Column(Integer, nullable=False))
    reversal_identifier: str = Field(sa_column=Column(String(250), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(1000), nullable=True))
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    actor: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class RedemptionReversalLineRow(SQLModel, table=True):
    """What a reversal gave back: counts of one consumed entry, or of a POS or CODE promotion
    (earned_promotion_id NULL: no wallet effect)."""

    __tablename__ = "redemption_reversal_line"

    reversal_id: str = Field(
        sa_column=Column(String(24), ForeignKey("redemption_reversal.id"), primary_key=True)
    )
    position: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    promotion_id: str = Field(sa_column=Column(String(24), nullable=False))
    earned_promotion_id: str | None = Field(
        default=None, sa_column=Column(String(24), ForeignKey("earned_promotion.id"), nullable=True)
    )
    redemption_count: int = Field(sa_column=Column(Integer, nullable=False))


class HoldRow(SQLModel, table=True):
    """A hold (DESIGN §8.2): a redemption's content with counts reserved until expires_at.
    status is HELD, COMMITTED or RELEASED; a HELD row past expires_at is expired by the clock."""

    __tablename__ = "hold"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "customer_id"], ["customer.org_id", "customer.id"]),
        # Not unique: a transactionIdentifier is free again once its hold is released or expired.
        Index("ix_hold_transaction", "org_id", "transaction_identifier"),
        Index("ix_hold_customer", "org_id", "customer_id", "id"),
    )

    id: str = Field(sa_column=Column(String(24), primary_key=True))
    org_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    customer_identifier_type: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    customer_identifier_value: str | None = Field(default=None, sa_column=Column(String(250), nullable=True))
    transaction_identifier: str = Field(sa_column=Column(String(250), nullable=False))
    transaction_number: str = Field(sa_column=Column(String(250), nullable=False))
    transaction_date: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount: str = Field(sa_column=Column(String(40), nullable=False))
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    expires_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    settled_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    redemption_id: str | None = Field(
        default=None, sa_column=Column(String(24), ForeignKey("redemption.id"), nullable=True)
    )
    actor: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class HoldLineRow(SQLModel, table=True):
    """A line of a hold's request, as redemption_line: kind LINE_ITEM or REDEMPTION."""

    __tablename__ = "hold_line"

    hold_id: str = Field(sa_column=Column(String(24), ForeignKey("hold.id"), primary_key=True))
    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    position: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    sku: str | None = Field(default=None, sa_column=Column(String(250), nullable=True))
    promotion_id: str = Field(sa_column=Column(String(24), nullable=False))
    earned_promotion_id: str | None = Field(default=None, sa_column=Column(String(24), nullable=True))
    redemption_count: int = Field(sa_column=Column(Integer, nullable=False))
    discount: str = Field(sa_column=Column(String(40), nullable=False))
    discount_applied_on_quantity: str = Field(sa_column=Column(String(40), nullable=False))
    promotion_applied_on_quantity: str = Field(sa_column=Column(String(40), nullable=False))


class HoldAllocationRow(SQLModel, table=True):
    """Which wallet entries a hold reserves, and how many redemptions of each: what a commit
    consumes. Indexed by entry: every availability read sums the live ones per entry."""

    __tablename__ = "hold_allocation"
    __table_args__ = (Index("ix_hold_allocation_entry", "earned_promotion_id", "hold_id"),)

    hold_id: str = Field(sa_column=Column(String(24), ForeignKey("hold.id"), primary_key=True))
    earned_promotion_id: str = Field(
        sa_column=Column(String(24), ForeignKey("earned_promotion.id"), primary_key=True)
    )
    promotion_id: str = Field(sa_column=Column(String(24), nullable=False))
    count: int = Field(sa_column=Column(Integer, nullable=False))


class WalletLedgerRow(SQLModel, table=True):
    """Append-only history of every wallet change: quantity is the change in redemptions
    available (+allowed on ISSUED/EARNED, -count on REDEEMED, +count on REVERSED, -left on REVOKED,
    0 on HELD and RELEASED: a hold's counts are its allocations, and a commit writes REDEEMED)."""

    __tablename__ = "wallet_ledger"
    __table_args__ = (
        Index("ix_wallet_ledger_customer", "org_id", "customer_id", "id"),
        Index("ix_wallet_ledger_entry", "earned_promotion_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(AutoId, primary_key=True, autoincrement=True))
    org_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    promotion_id: str = Field(sa_column=Column(String(24), nullable=False))
    earned_promotion_id: str | None = Field(default=None, sa_column=Column(String(24), nullable=True))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    quantity: int = Field(sa_column=Column(Integer, nullable=False))
    actor: str = Field(sa_column=Column(String(64), nullable=False))
    source: str = Field(sa_column=Column(String(250), nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class IdempotencyKeyRow(SQLModel, table=True):
    """A claimed Idempotency-Key (DESIGN §8.3): unique per API client, which is what decides
    concurrent requests with one key, in any number of processes. `response_status` NULL: its
    request is still running (until `claimed_until`). Purged once past `expires_at`."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        UniqueConstraint("client_id", "idempotency_key", name="uq_idempotency_key"),
        Index("ix_idempotency_key_expires_at", "expires_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(AutoId, primary_key=True, autoincrement=True))
    client_id: int = Field(sa_column=Column(BigInteger, ForeignKey("api_client.id"), nullable=False))
    idempotency_key: str = Field(sa_column=Column(String(255), nullable=False))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False))
    claim: str = Field(sa_column=Column(String(32), nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    claimed_until: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    response_status: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    response_content_type: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))
    response_body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class IssueJobRow(SQLModel, table=True):
    """A bulk issue job (DESIGN §8.4). `lease_owner` / `lease_until` say which runner may write for
    it until when (0: nobody, a QUEUED job); `checked`: the whole-list checks passed; `error_kind`
    names the domain error a FAILED job ended with (domain/jobs.py JobError)."""

    __tablename__ = "issue_job"
    __table_args__ = (
        Index("ix_issue_job_org", "org_id", "created_at", "id"),
        Index("ix_issue_job_claim", "state", "lease_until"),
    )

    id: str = Field(sa_column=Column(String(24), primary_key=True))
    org_id: int = Field(sa_column=Column(BigInteger, ForeignKey("org.id"), nullable=False))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    promotion_id: str = Field(sa_column=Column(String(24), nullable=False))
    context_id: str = Field(sa_column=Column(String(250), nullable=False))
    skip_missing: bool = Field(sa_column=Column(Boolean, nullable=False))
    actor: str = Field(sa_column=Column(String(64), nullable=False))
    total: int = Field(sa_column=Column(Integer, nullable=False))
    processed: int = Field(sa_column=Column(Integer, nullable=False))
    issued_count: int = Field(sa_column=Column(Integer, nullable=False))
    already_issued_count: int = Field(sa_column=Column(Integer, nullable=False))
    missing_count: int = Field(sa_column=Column(Integer, nullable=False))
    checked: bool = Field(sa_column=Column(Boolean, nullable=False))
    error_kind: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    error_message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    lease_owner: str = Field(sa_column=Column(String(128), nullable=False))
    lease_until: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    started_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    finished_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class IssueJobIdsRow(SQLModel, table=True):
    """A job's customer ids, apart from the job row that progress reads poll: each list one blob of
    signed 64-bit little-endian integers (8 bytes an id; persistence/repositories/jobs.py says why
    not a row per id)."""

    __tablename__ = "issue_job_ids"

    job_id: str = Field(sa_column=Column(String(24), ForeignKey("issue_job.id"), primary_key=True))
    customer_ids: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    missing_ids: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
class RateLimitCounterRow(SQLModel, table=True):
    """Events of one key (an API client's requests, a username's or address's failed sign-ins) in
    one fixed window: one row per key and window, counted up by an upsert, so every process of a
    PostgreSQL deployment shares the count. Purged once past `expires_at`."""

    __tablename__ = "rate_limit_counter"
    __table_args__ = (Index("ix_rate_limit_counter_expires_at", "expires_at"),)

    key: str = Field(sa_column=Column(String(300), primary_key=True))
    window_start: int = Field(sa_column=Column(BigInteger, primary_key=True))
    hits: int = Field(sa_column=Column(Integer, nullable=False))
    expires_at: int = Field(sa_column=Column(BigInteger, nullable=False))


def table_of(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined]


org_table = table_of(OrgRow)
api_client_table = table_of(ApiClientRow)
access_token_table = table_of(AccessTokenRow)
customer_table = table_of(CustomerRow)
customer_identifier_table = table_of(CustomerIdentifierRow)
promotion_table = table_of(PromotionRow)
earned_promotion_table = table_of(EarnedPromotionRow)
redemption_table = table_of(RedemptionRow)
redemption_line_table = table_of(RedemptionLineRow)
redemption_consumption_table = table_of(RedemptionConsumptionRow)
redemption_reversal_table = table_of(RedemptionReversalRow)
redemption_reversal_line_table = table_of(RedemptionReversalLineRow)
hold_table = table_of(HoldRow)
hold_line_table = table_of(HoldLineRow)
hold_allocation_table = table_of(HoldAllocationRow)
wallet_ledger_table = table_of(WalletLedgerRow)
idempotency_key_table = table_of(IdempotencyKeyRow)
issue_job_table = table_of(IssueJobRow)
issue_job_ids_table = table_of(IssueJobIdsRow)
rate_limit_counter_table = table_of(RateLimitCounterRow)

metadata = SQLModel.metadata
