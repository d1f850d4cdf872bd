"""Custom scalars: Long (64-bit integer), DateTime (ISO-8601 UTC with Z), Decimal (string)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal as PyDecimal
from decimal import InvalidOperation
from typing import TYPE_CHECKING, Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from app.domain.clock import iso_text, to_iso
from app.domain.ids import MAX_LONG
from app.domain.text import is_decimal_text, is_integer_text

MIN_LONG = -(2**63)

# Each scalar is a NewType only so that the schema's scalar_map can tell it from the plain Python
# type; its values are plain ints, epoch milliseconds or datetimes, and Decimals. To mypy the three
# names are aliases of those types, so domain values pass as they are, with no wrapping call per
# field per row.
if TYPE_CHECKING:
    Long = int
    DateTime = int | datetime
    Decimal = PyDecimal
else:
    Long = NewType("Long", int)
    DateTime = NewType("DateTime", datetime)
    Decimal = NewType("Decimal", PyDecimal)


def _parse_long(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("Long cannot represent a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and is_integer_text(value.strip()):
        number = int(value.strip())
    else:
        raise ValueError(f"Long cannot represent {value!r}: expected an integer or a numeric string")
    if not MIN_LONG <= number <= MAX_LONG:
        raise ValueError(f"Long cannot represent {value!r}: outside the 64-bit range")
    return number


def _serialize_long(value: Any) -> int:
    return int(value)


LONG_SCALAR = strawberry.scalar(
    name="Long",
    description="A 64-bit integer, sent as a JSON number; a numeric string is accepted on input.",
    serialize=_serialize_long,
    parse_value=_parse_long,
)


def _serialize_datetime(value: int | datetime) -> str:
    # Epoch milliseconds are what the types hold (each ISO field is the twin of an epoch field):
    # written straight from the number, no datetime is built for a field that is not selected.
    if type(value) is int:
        return to_iso(value)
    if not isinstance(value, datetime):
        raise ValueError(f"DateTime cannot represent {value!r}")
    if value.tzinfo is None:
        raise ValueError("DateTime cannot serialise a naive datetime")
    return iso_text(value)


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO-8601 string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("DateTime must carry a timezone (Z or an offset)")
    return parsed.astimezone(UTC)


DATETIME_SCALAR = strawberry.scalar(
    name="DateTime",
    description="An instant as ISO-8601 UTC with a Z, the same instant as its epoch-milliseconds "
    "twin: milliseconds written when not zero (2025-12-31T18:29:59.999Z, 2025-04-01T15:31:48Z).",
    serialize=_serialize_datetime,
    parse_value=_parse_datetime,
)


def _parse_decimal(value: Any) -> PyDecimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"Decimal cannot represent {value!r}")
    if isinstance(value, str) and not is_decimal_text(value.strip()):
        raise ValueError(f"Decimal cannot represent {value!r}: expected ASCII digits")
    try:
        number = PyDecimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"Decimal cannot represent {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"Decimal cannot represent {value!r}")
    return number


def _serialize_decimal(value: PyDecimal) -> str:
    return format(value, "f")


DECIMAL_SCALAR = strawberry.scalar(
    name="Decimal",
    description='An exact decimal number as a string ("500.000000"); numbers are accepted on input.',
    serialize=_serialize_decimal,
    parse_value=_parse_decimal,
)


SCALAR_MAP: Mapping[object, ScalarDefinition] = {
    Long: LONG_SCALAR,
    DateTime: DATETIME_SCALAR,
    Decimal: DECIMAL_SCALAR,
}
