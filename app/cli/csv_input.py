"""Reading the CSV files of `issue` and `customers import`: which column holds the customer id
(named with --column, or found by name), whether the first row is a header, which lines are not
ids. Parsing only; what the rows mean is the services' business."""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

from app.cli.shell import BadInput
from app.domain.commands import CreateCustomer

ID_COLUMNS = ("customer_id", "customerid", "customer", "id")
# customers import: identifier columns by their lowered header name
IDENTIFIER_COLUMNS = {
    "mobile": "mobile",
    "phone": "mobile",
    "email": "email",
    "external_id": "external_id",
    "externalid": "external_id",
}


def read_text(file: Path) -> str:
    """The file's text ('-' reads stdin); an unreadable file is bad input."""
    try:
        return sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(str(error)) from error


def _is_int(value: str) -> bool:
    return value.strip().lstrip("+").isdigit()


def _customer_id(value: str) -> int | None:
    value = value.strip()
    return int(value) if _is_int(value) and int(value) > 0 else None


@dataclass
class _Table:
    rows: list[tuple[int, list[str]]]  # (line number, cells) of the body, blank lines left out
    header: list[str] | None  # as written, stripped
    id_index: int


def _table(text: str, column: str | None) -> _Table | None:
    """The rows and where the id is: a column named by `column` (a header row required), or one
    found by name (customer_id, customerId, customer, id); a one-column file may have a header."""
    rows = [
        (number, row)
        for number, row in enumerate(csv.reader(io.StringIO(text)), start=1)
        if any(cell.strip() for cell in row)
    ]
    if not rows:
        return None
    first_line, first = rows[0]
    header = [cell.strip() for cell in first]
    if column is not None:
        if column not in header:
            raise BadInput(f"no column {column!r} in the header row (found: {', '.join(header)})")
        return _Table(rows[1:], header, header.index(column))
    if len(first) > 1:
        lowered = [name.lower() for name in header]
        found = next((name for name in ID_COLUMNS if name in lowered), None)
        if found is None:
            raise BadInput(f"line {first_line} has {len(first)} columns: name the id column with --column")
        return _Table(rows[1:], header, lowered.index(found))
    if not _is_int(first[0]):
        return _Table(rows[1:], header, 0)  # a one-column file with a header row
    return _Table(rows, None, 0)


@dataclass
class CustomerFile:
    ids: list[int]
    duplicates: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line number, value)


def read_customer_ids(text: str, column: str | None = None) -> CustomerFile:
    """Customer ids from CSV text: one id per line, or a column chosen by `column` (header row
    required) or found by name (customer_id, customerId, customer, id). A first row that is not an
    id is a header. Repeated ids are counted once; values that are not ids are reported by line."""
    table = _table(text, column)
    result = CustomerFile(ids=[])
    if table is None:
        return result
    seen: set[int] = set()
    for number, row in table.rows:
        value = row[table.id_index].strip() if table.id_index < len(row) else ""
        customer_id = _customer_id(value)
        if customer_id is None:
            result.invalid.append((number, value))
        elif customer_id in seen:
            result.duplicates += 1
        else:
            seen.add(customer_id)
            result.ids.append(customer_id)
    return result


@dataclass
class CustomerRows:
    """The customers of a file, in file order, and the line each came from."""

    customers: list[CreateCustomer] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line number, id value): not sent
    identifier_columns: list[str] = field(default_factory=list)  # header names read as identifiers
    ignored_columns: list[str] = field(default_factory=list)


def read_customers(text: str, column: str | None = None) -> CustomerRows:
    """Customers from CSV text: the id column found as `read_customer_ids` finds it, and the
    identifiers from columns named mobile (or phone), email and external_id (or externalId); any
    other column is ignored and reported. Empty cells are no identifier. Every row is kept, repeats
    included: the import skips a customer repeated identically and rejects a conflicting one."""
    table = _table(text, column)
    result = CustomerRows()
    if table is None:
        return result
    identifiers: dict[int, str] = {}
    for index, name in enumerate(table.header or []):
        if index == table.id_index:
            continue
        kind = IDENTIFIER_COLUMNS.get(name.lower())
        if kind is None or kind in identifiers.values():
            result.ignored_columns.append(name)
        else:
            identifiers[index] = kind
            result.identifier_columns.append(name)
    for number, row in table.rows:
        value = row[table.id_index].strip() if table.id_index < len(row) else ""
        customer_id = _customer_id(value)
        if customer_id is None:
            result.invalid.append((number, value))
            continue
        fields = {kind: row[index].strip() or None for index, kind in identifiers.items() if index < len(row)}
        result.customers.append(CreateCustomer(id=customer_id, **fields))
        result.lines.append(number)
    return result
