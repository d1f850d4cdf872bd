"""Many integers sent to the database as one bound parameter instead of one parameter per value.

An expanding `IN` list makes SQLAlchemy render a placeholder and bind a value per id in Python
(measured: 0.32-0.46 s of a 100k-id issuePromotion on SQLite went to the customer existence
check alone), and on PostgreSQL it costs ~0.1 s per 5,000-id chunk to prepare and plan. One array
(PostgreSQL `unnest`) or one JSON text (SQLite `json_each`, read in C) costs neither, and has no
bound-parameter limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import BigInteger, ColumnElement, String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.selectable import FromClause, TableValuedAlias
from sqlalchemy.types import TypeEngine


def id_rows(values: Sequence[int], *, dialect: str) -> TableValuedAlias:
    """The integers as a row source with one column, `value`."""
    if dialect == "postgresql":
        rows = func.unnest(bindparam(None, list(values), type_=ARRAY(BigInteger))).table_valued("value")
        return rows.render_derived()  # `AS anon(value)`: unnest names its column itself otherwise
    return func.json_each(bindparam(None, orjson.dumps(list(values)).decode())).table_valued("value")


def text_rows(values: Sequence[str], *, dialect: str) -> TableValuedAlias:
    """The strings as a row source with one column, `value`."""
    if dialect == "postgresql":
        rows = func.unnest(bindparam(None, list(values), type_=ARRAY(String))).table_valued("value")
        return rows.render_derived()
    return func.json_each(bindparam(None, orjson.dumps(list(values)).decode())).table_valued("value")


def among(column: ColumnElement[Any], values: Sequence[int], *, dialect: str) -> ColumnElement[bool]:
    """`column` is one of the integers `values`."""
    return column.in_(select(id_rows(values, dialect=dialect).c.value))


def value_rows(columns: Mapping[str, tuple[TypeEngine[Any], Sequence[Any]]], *, dialect: str) -> FromClause:
    """Rows of several columns (equal-length lists of values) as one row source, each column
    named by its key: for inserting many rows in one statement, with no bound parameter per
    value. PostgreSQL: `unnest` of one array per column; SQLite: `json_each` of one
    JSON array of rows."""
    names = list(columns)
    if dialect == "postgresql":
        arrays = [bindparam(None, list(values), type_=ARRAY(kind)) for kind, values in columns.values()]
        return func.unnest(*arrays).table_valued(*names).render_derived()
    # orjson writes the tuples as JSON arrays as they are, several times faster than json.dumps.
    rows = orjson.dumps(list(zip(*(values for _, values in columns.values()), strict=True))).decode()
    each = func.json_each(bindparam(None, rows)).table_valued("value")
    return select(
        *(
            func.json_extract(each.c.value, f"$[{position}]").label(name)
            for position, name in enumerate(names)
        )
    ).subquery()


def keyed_id_rows(pairs: Mapping[str, int]) -> TableValuedAlias:
    """SQLite only: text keys each with an integer as rows of two columns, `key` and `value`,
    from one JSON object. json_each returns both in C, where `value_rows` extracts every
    column of every row with json_extract (a 300,000-identifier insert spent most of its time
    there). A mapping has unique keys: rows whose keys may repeat need `value_rows`."""
    return func.json_each(bindparam(None, orjson.dumps(pairs).decode())).table_valued("key", "value")
