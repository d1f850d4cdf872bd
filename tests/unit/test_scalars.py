"""The custom scalars' parse and serialise functions (the API tests cover them over HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.clock import MAX_INSTANT_MS, to_datetime
from app.graphql.scalars import (
    _parse_datetime,
    _parse_decimal,
    _parse_long,
    _serialize_datetime,
    _serialize_decimal,
)


@pytest.mark.parametrize(
    "value", [5668819330, "5668819330", " 5668819330 ", 5668819330.0, 2**63 - 1, -(2**63)]
)
def test_long_accepts_64_bit_integers_as_numbers_or_numeric_strings(value: object) -> None:
    assert _parse_long(value) == int(str(value).strip().split(".")[0])


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, "abc", "12a", "", 1.5, True, None, [1], "9" * 30])
def test_long_rejects_values_outside_64_bits_and_non_numbers(value: object) -> None:
    with pytest.raises(ValueError):
        _parse_long(value)


def test_datetime_serialises_as_utc_with_a_z_keeping_its_milliseconds() -> None:
    instant = datetime(2025, 5, 31, 18, 29, 59, 999000, tzinfo=UTC)
    assert _serialize_datetime(instant) == "2025-05-31T18:29:59.999Z"


def test_datetime_on_a_whole_second_serialises_without_a_fraction() -> None:
    assert _serialize_datetime(datetime(2025, 4, 1, 15, 31, 48, tzinfo=UTC)) == "2025-04-01T15:31:48Z"


def test_datetime_in_another_zone_is_serialised_in_utc() -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    instant = datetime(2025, 5, 31, 23, 59, 59, tzinfo=kolkata)
    assert _serialize_datetime(instant) == "2025-05-31T18:29:59Z"


@given(st.integers(min_value=-62_135_596_800_000, max_value=MAX_INSTANT_MS))
def test_datetime_writes_epoch_milliseconds_as_the_text_of_the_same_instant(ms: int) -> None:
    assert _serialize_datetime(ms) == _serialize_datetime(to_datetime(ms))


@pytest.mark.parametrize("value", [True, 1.5, "2025-05-31T18:29:59Z", None])
def test_datetime_refuses_to_write_what_is_neither_an_instant_nor_epoch_milliseconds(value: object) -> None:
    with pytest.raises(ValueError):
        _serialize_datetime(value)  # type: ignore[arg-type]


def test_datetime_parses_iso_with_a_z() -> None:
    assert _parse_datetime("2025-05-31T18:29:59Z") == datetime(2025, 5, 31, 18, 29, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("500.000000", "500.000000"), (500, "500"), ("0.1", "0.1"), (" 12.50 ", "12.50"), ("1E+2", "100")],
)
def test_decimal_round_trips_as_an_exact_string(value: object, expected: str) -> None:
    assert _serialize_decimal(_parse_decimal(value)) == expected


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", "", True, None, [1]])
def test_decimal_rejects_non_numbers(value: object) -> None:
    with pytest.raises(ValueError):
        _parse_decimal(value)


def test_decimal_keeps_precision_a_float_would_lose() -> None:
    assert _parse_decimal("0.1") + _parse_decimal("0.2") == Decimal("0.3")


def test_datetime_without_an_offset_is_refused_on_input() -> None:
    with pytest.raises(ValueError):
        _parse_datetime("2025-05-31T18:29:59")
