"""Configuration from PROMO_WALLET_* environment variables (or a .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROMO_WALLET_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./promo_wallet.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)

    lock_timeout_ms: int = Field(default=2000, ge=1, description="wallet lock wait before a 521")
    max_batch: int = Field(default=100_000, ge=1, description="ids per issuePromotion / importCustomers")
    token_ttl_seconds: int = Field(default=3600, ge=60)
    auth_cache_seconds: float = Field(default=60.0, ge=0, description="how long a verified secret is trusted")

    graphql_ide: bool | None = Field(
        default=None, description="GraphiQL on GET /graphql; unset: on in demo mode, off otherwise"
    )
    ide_assets_dir: Path | None = Field(
        default=None, description="where GraphiQL/React are fetched to; default app/ide/static/vendor"
    )
    introspection: bool = True
    demo_mode: bool = False
    graphql_limits: bool = Field(
        default=True, description="depth/alias/token limits; turn off only to benchmark their cost"
    )
    max_query_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=15, ge=1)
    max_tokens: int = Field(default=2000, ge=1)
    # 100,000 customers with identifiers in one importCustomers call is about 8 MB of JSON; a
    # startIssueJob of PROMO_WALLET_MAX_JOB_IDS (1,000,000) ids of 19 digits, ", "-separated, 21 MB.
    max_body_bytes: int = Field(default=24 * 1024 * 1024, ge=1024, description="larger bodies get HTTP 413")

    idempotency_ttl_seconds: int = Field(
        default=86_400, ge=1, description="how long an Idempotency-Key's answer is kept and replayed"
    )
    # A request holding a key longer than this is taken for dead (its process killed) and the key
    # is free again; far above any request's run time (the longest, a 100,000-id issue, takes seconds).
    idempotency_claim_seconds: int = Field(
        default=60, ge=1, description="how long a running request holds its Idempotency-Key"
    )

    jobs_enabled: bool = Field(
        default=True, description="run bulk issue jobs in this process (`serve --no-jobs` turns it off)"
    )
    max_job_ids: int = Field(default=1_000_000, ge=1, description="ids per startIssueJob")
    job_lease_seconds: float = Field(default=30.0, gt=0, le=30, description="a runner's hold on its job")
    job_chunk_size: int = Field(default=5000, ge=1, description="customers per job chunk (one transaction)")
    job_poll_seconds: float = Field(default=1.0, gt=0, description="how often an idle runner looks for jobs")

    db_pool_size: int = Field(default=10, ge=1)
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = Field(default="json", description="`promo-wallet serve` logs")

    # Limits for hostile and careless clients (README "Limits and rate limits").
    max_document_bytes: int = Field(
        default=256 * 1024, ge=1024, description="larger GraphQL documents are refused before parsing"
    )
    max_query_cost: int = Field(
        default=5000, ge=0, description="GraphQL cost limit (list fields x first, nested); 0 = off"
    )
    rate_limit_per_minute: int = Field(
        default=1000, ge=0, description="requests per API client per minute, both faces; 0 = off"
    )
    auth_max_failures: int = Field(
        default=10, ge=0, description="failed sign-ins per username in the window before 429; 0 = off"
    )
    auth_max_failures_per_address: int = Field(
        default=100, ge=0, description="failed sign-ins per client address in the window before 429; 0 = off"
    )
    auth_failure_window_seconds: int = Field(
        default=300, ge=1, description="the sign-in throttle's window (the longest a username is held)"
    )

    @model_validator(mode="after")
    def _ide_follows_demo_mode(self) -> Settings:
        if self.graphql_ide is None:
            self.graphql_ide = self.demo_mode
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
