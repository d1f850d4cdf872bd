"""create_app(settings) -> FastAPI: /graphql, /oauth/token, /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth.authenticator import Authenticator
from app.auth.routes import router as auth_router
from app.auth.throttle import SignInThrottle
from app.graphql.idempotency import GraphQLIdempotency
from app.graphql.router import GraphQLUnauthenticated, create_graphql_router, unauthenticated_response
from app.http_idempotency import IdempotencyMiddleware
from app.http_limits import QuietClientDisconnect
from app.http_rate_limit import RateLimiter, RateLimitHeaders
from app.ide.api_docs import mount_api_docs
from app.ide.page import mount_ide_assets
from app.observability import install_observability
from app.persistence.counters import window_counter
from app.persistence.database import create_database
from app.persistence.uow import SqlUnitOfWorkFactory
from app.rest.idempotency import RestIdempotency
from app.rest.routes import add_rest_routes, rest_http_error_response
from app.services.job_runner import JobRunner
from app.settings import Settings, get_settings


def _job_runner(settings: Settings, uow_factory: SqlUnitOfWorkFactory) -> JobRunner:
    """The bulk issue jobs' runner of this process (DESIGN §8.4), reporting to the metrics."""
    from app.observability.metrics import observe_job_chunk, observe_jobs_by_state

    return JobRunner(
        uow_factory,
        lease_ms=int(settings.job_lease_seconds * 1000),
        poll_s=settings.job_poll_seconds,
        chunk_size=settings.job_chunk_size,
        on_chunk=lambda progress: observe_job_chunk(progress.issued),
        on_counts=lambda counts: observe_jobs_by_state({state.value: n for state, n in counts.items()}),
    )


# The cyclic collector's thresholds once start-up is frozen: young collections a little rarer than
# CPython's default 700 allocations (a request allocates thousands of objects, nearly all freed by
# reference counting). Much higher thresholds make each young collection long enough to be a
# stall of its own (README, Benchmarks).
GC_THRESHOLDS = (2_000, 10, 10)
_gc_tuned = False


def tune_gc_after_start_up() -> None:
    """Move everything start-up made (modules, the schemas, SQLAlchemy's tables and compiled
    statements) out of the cyclic collector's reach, and raise its young threshold. A full
    collection otherwise walks all of it every few thousand requests, stopping the event loop for
    every request in flight at once: the servers' p99 stalls. Once per process (the test suite
    starts many apps in one): objects frozen are never collected, so freezing again later would
    keep a test's garbage alive."""
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # From app.state, which the routes read too: the test suite serves each test's own database
        # with one app (tests/support.py AppCache); in a server it is the `settings` above.
        current: Settings = app.state.settings
        database = create_database(current)
        app.state.database = database
        app.state.uow_factory = uow_factory = SqlUnitOfWorkFactory(database)
        counter = window_counter(current)  # rate limits and the sign-in throttle
        app.state.rate_limiter = RateLimiter(counter, current.rate_limit_per_minute)
        app.state.authenticator = Authenticator(
            uow_factory,
            cache_seconds=current.auth_cache_seconds,
            token_ttl_seconds=current.token_ttl_seconds,
            throttle=SignInThrottle(
                counter,
                max_failures=current.auth_max_failures,
                max_failures_per_address=current.auth_max_failures_per_address,
                window_seconds=current.auth_failure_window_seconds,
            ),
        )
        job_runner = _job_runner(current, uow_factory) if current.jobs_enabled else None
        running = asyncio.create_task(job_runner.run_forever()) if job_runner is not None else None
        tune_gc_after_start_up()
        try:
            yield
        finally:
            if job_runner is not None and running is not None:
                running.cancel()  # a chunk in flight rolls back
                with contextlib.suppress(asyncio.CancelledError):
                    await running
                try:
                    await job_runner.release()  # its job resumes at once elsewhere (or on restart)
                except Exception:
                    logging.getLogger("app.jobs").exception("could not release the job runner's leases")
            await counter.close()
            await database.dispose()

    app = FastAPI(
        title="Promo Wallet Gateway",
        version="0.1.0",
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,  # HTTP 413 beyond it; uvicorn has no limit of its own
        docs_url=None,  # /docs and /redoc: mount_api_docs serves them from vendored files, no CDN
        redoc_url=None,
    )
    # Innermost: what it answers itself (replays, refusals) still gets a request id, a log line
    # and metrics; what it holds back is the routes' answer only.
    app.add_middleware(
        IdempotencyMiddleware,
        faces=[
            GraphQLIdempotency(
                max_tokens=settings.max_tokens if settings.graphql_limits else None,
                max_document_bytes=settings.max_document_bytes,
            ),
            RestIdempotency(),
        ],
    )
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(QuietClientDisconnect)
    install_observability(app)  # outermost: request id, access log and HTTP metrics see everything
    app.state.settings = settings
    app.include_router(auth_router)
    app.include_router(create_graphql_router(settings), prefix="/graphql", include_in_schema=False)
    add_rest_routes(app.router)  # the spec pages' REST API, same services
    mount_ide_assets(app, settings)
    app.add_exception_handler(GraphQLUnauthenticated, unauthenticated_response)
    app.add_exception_handler(StarletteHTTPException, rest_http_error_response)
    mount_api_docs(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness and database reachability")
    async def healthz() -> dict[str, str]:
        async with app.state.database.reader.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app
