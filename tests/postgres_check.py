"""Is the PostgreSQL the suite needs there? `postgres_problem` says in one line what is missing and
how to fix it, or returns None. Imports nothing of the app, so scripts/test.sh can ask it first:

    python -m tests.postgres_check URL VARIABLE    # exit 1 and the line when there is a problem
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg


def _how_to_start() -> str:
    clusters = sorted(p.name for p in Path("/etc/postgresql").glob("*") if p.is_dir())
    if clusters:
        return f"start it with `pg_ctlcluster {clusters[-1]} main start`"
    return "start a PostgreSQL server"


async def _connect(dsn: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=5)
    await connection.close()


def postgres_problem(url: str, *, variable: str) -> str | None:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    parts = urlsplit(dsn)
    host, port = parts.hostname or "localhost", parts.port or 5432
    user = unquote(parts.username or "postgres")
    database = unquote(parts.path.lstrip("/")) or user
    where = f"{host}:{port}"
    try:
        asyncio.run(_connect(dsn))
    except asyncpg.InvalidCatalogNameError:
        return (
            f"PostgreSQL at {where} has no database {database!r}: create it with"
            f" `createdb -h {host} -p {port} -U {user} {database}`, or set {variable} to another database"
        )
    except (OSError, TimeoutError) as exc:
        if isinstance(exc, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror
        else:
            reason = "no answer in 5 s"
        return (
            f"PostgreSQL is not reachable at {where} ({reason}): {_how_to_start()},"
            f" or set {variable} to a server that runs (postgresql+asyncpg://user@host:port/db)"
        )
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return f"PostgreSQL at {where} refused {user!r} on {database!r} ({exc}): fix it, or set {variable}"
    return None


def main() -> int:
    url, variable = sys.argv[1], sys.argv[2]
    problem = postgres_problem(url, variable=variable)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
