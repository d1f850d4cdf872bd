"""What the GraphQL layer costs an importCustomers call, without the database.

    .venv/bin/python bench/import_customers_graphql.py            # 100,000 rows, 5 rounds
    .venv/bin/python bench/import_customers_graphql.py --rows 10000 --rounds 3

Executes the served schema in this process with the service (`admin.import_customers`) stubbed to
count the commands it gets, so the time is parsing, validation, graphql-core's coercion of the
variables, Strawberry's conversion of each row to a CreateCustomerInput, and `to_command`. It
prints the median and the fastest round, and the microseconds per row of the median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import Any

from app.domain.commands import CreateCustomer
from app.domain.models import Principal, Scope
from app.graphql.context import Context
from app.graphql.schema import schema
from app.services import admin
from app.settings import Settings

IMPORT = """mutation($customers: [CreateCustomerInput!]!) { importCustomers(customers: $customers) {
  __typename ... on ImportCustomersSuccess { createdCount } } }"""


async def _counting_import(
    uow_factory: object, principal: object, commands: Sequence[CreateCustomer], *, max_batch: int = 0
) -> admin.ImportResult:
    return admin.ImportResult(created_count=len(commands), skipped_count=0, rejected=[])


async def _seconds_per_call(rows: list[dict[str, Any]]) -> float:
    principal = Principal(org_id=1, client_id=1, username="admin", scopes=frozenset({Scope.ADMIN}))
    context = Context(
        uow_factory=None,  # type: ignore[arg-type]  # the service is stubbed
        settings=Settings(_env_file=None),
        authenticator=None,  # type: ignore[arg-type]  # the principal is given
        principal=principal,
        now=0,
    )
    started = time.perf_counter()
    result = await schema.execute(IMPORT, variable_values={"customers": rows}, context_value=context)
    elapsed = time.perf_counter() - started
    assert result.errors is None, result.errors
    assert result.data is not None
    success = {"__typename": "ImportCustomersSuccess", "createdCount": len(rows)}
    assert result.data["importCustomers"] == success
    return elapsed


async def _main(count: int, rounds: int) -> None:
    admin.import_customers = _counting_import
    rows = [
        {"id": 5_000_000_000 + i, "mobile": f"9{i:09d}", "email": f"c{i}@example.com", "externalId": f"x{i}"}
        for i in range(count)
    ]
    await _seconds_per_call(rows)  # warm-up: the schema's caches
    times = [await _seconds_per_call(rows) for _ in range(rounds)]
    median = statistics.median(times)
    print(
        f"importCustomers, {count} rows, service stubbed: median {median * 1000:.0f} ms, "
        f"fastest {min(times) * 1000:.0f} ms, {median / count * 1e6:.1f} us a row"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(_main(args.rows, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
