"""What the command line reads from its files and options, without a database: the customers of
an import file (app/cli/csv_input.py) and the instants of `promotions create` (app/cli/promotions.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from app.cli.csv_input import read_customers
from app.cli.promotions import instant
from app.cli.shell import BadInput
from app.domain.commands import CreateCustomer

KOLKATA = ZoneInfo("Asia/Kolkata")


def test_an_import_file_reads_identifier_columns_by_name_and_keeps_each_row_with_its_line() -> None:
    rows = read_customers("Phone,customer,E-mail,externalId\n98765 43210,7,x,CRM-7\n,8,,\n\n12345,nine,,\n")
    assert rows.customers == [
        CreateCustomer(id=7, mobile="98765 43210", external_id="CRM-7"),
        CreateCustomer(id=8),
    ]
    assert rows.lines == [2, 3]
    assert rows.invalid == [(5, "nine")]
    assert (rows.identifier_columns, rows.ignored_columns) == (["Phone", "externalId"], ["E-mail"])


def test_an_import_file_of_ids_alone_needs_no_header_and_keeps_repeats_for_the_service() -> None:
    rows = read_customers("5\n6\n5\n")
    assert [c.id for c in rows.customers] == [5, 6, 5]
    assert rows.identifier_columns == rows.ignored_columns == []


def test_an_import_file_of_several_columns_without_an_id_column_is_bad_input() -> None:
    with pytest.raises(BadInput, match="--column"):
        read_customers("mobile,email\n1,2\n")


@pytest.mark.parametrize(
    ("value", "end_of_day", "expected"),
    [
        ("2031-03-01", False, datetime(2031, 3, 1, tzinfo=KOLKATA)),
        ("2031-03-01", True, datetime(2031, 3, 1, 23, 59, 59, 999000, tzinfo=KOLKATA)),
        ("2031-03-01T10:30", False, datetime(2031, 3, 1, 10, 30, tzinfo=KOLKATA)),
        ("2031-03-01T10:30:00Z", True, datetime(2031, 3, 1, 10, 30, tzinfo=UTC)),
        ("1900000000000", False, datetime.fromtimestamp(1_900_000_000, UTC)),
    ],
)
def test_a_promotion_date_is_a_whole_day_in_the_orgs_timezone_unless_it_names_a_time(
    value: str, end_of_day: bool, expected: datetime
) -> None:
    assert instant(value, KOLKATA, end_of_day=end_of_day, option="--end") == int(expected.timestamp() * 1000)


def test_a_promotion_date_that_is_no_date_is_bad_input_naming_its_option() -> None:
    with pytest.raises(BadInput, match="--start 'next week'"):
        instant("next week", KOLKATA, end_of_day=False, option="--start")
