from datetime import UTC, datetime
from decimal import Decimal

import pytest

from emag.coerce import format_emag_datetime, to_aware_datetime, to_decimal, to_int, to_object


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(42, 42), ("42", 42), (" 7 ", 7), ("-3", -3), ("3115229985", 3115229985), (Decimal("12.0000"), 12), ("5.00", 5)],
)
def test_it_turns_ids_and_counts_into_integers(raw, expected):
    assert to_int(raw) == expected


@pytest.mark.parametrize("raw", [None, True, "", "abc", "1.5", 1.5, [], {}, Decimal("NaN"), float("inf")])
def test_it_refuses_what_is_not_a_whole_number(raw):
    with pytest.raises(ValueError):
        to_int(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("84.0336", Decimal("84.0336")), (5, Decimal(5)), (0.1, Decimal("0.1")), (Decimal("1.50"), Decimal("1.50"))],
)
def test_it_keeps_prices_as_exact_decimals(raw, expected):
    result = to_decimal(raw)
    assert isinstance(result, Decimal)
    assert result == expected


@pytest.mark.parametrize("raw", [None, False, "", "12,50", "NaN", "Infinity", [], {"a": 1}])
def test_it_refuses_what_is_not_a_finite_decimal(raw):
    with pytest.raises(ValueError):
        to_decimal(raw)


def test_it_reads_an_empty_php_array_as_an_empty_object():
    assert to_object([]) == {}
    assert to_object({"id": 1}) == {"id": 1}


@pytest.mark.parametrize("raw", [None, [1], "x", 3])
def test_it_refuses_what_is_not_an_object(raw):
    with pytest.raises(ValueError):
        to_object(raw)


def test_it_reads_emag_local_time_in_bucharest():
    summer = to_aware_datetime("2025-09-29 10:14:07")
    winter = to_aware_datetime("2025-01-15 10:00:00")
    assert summer.astimezone(UTC) == datetime(2025, 9, 29, 7, 14, 7, tzinfo=UTC)
    assert winter.astimezone(UTC) == datetime(2025, 1, 15, 8, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw", [None, "", "2025-09-29", "29.09.2025 10:14:07", "0000-00-00 00:00:00", "2025-02-30 00:00:00", 0]
)
def test_it_refuses_what_is_not_an_emag_time(raw):
    with pytest.raises(ValueError):
        to_aware_datetime(raw)


def test_it_formats_a_filter_time_in_bucharest_local_time():
    assert format_emag_datetime(datetime(2025, 9, 29, 7, 14, 7, tzinfo=UTC)) == "2025-09-29 10:14:07"
    with pytest.raises(ValueError):
        format_emag_datetime(datetime(2025, 9, 29, 7, 14, 7))
