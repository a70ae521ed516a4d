"""Coercion of the PHP-style values eMAG sends into Python types.

eMAG's API is written in PHP and it shows: ids arrive as ints or strings, prices as
strings with four decimals, counts as strings, an empty object as `[]`, and times
as `YYYY-mm-dd HH:MM:SS` in Romanian local time with no zone. Every function here
takes one raw value and returns the proper type, or raises ValueError with a
message that says what was wrong (the record parser turns it into a rejection).
None is bad input for all of them: optional fields are the caller's business.
"""

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

EMAG_TIME_ZONE = ZoneInfo("Europe/Bucharest")
EMAG_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_INTEGER_RE = re.compile(r"^[+-]?\d+$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def to_int(value: Any) -> int:
    """An integer from an int, a string of digits, or an integral Decimal/float ("42", 42, Decimal("42.0"))."""
    # bool is an int subclass; a true/false where a number belongs is a wrong type, not 1/0.
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got a boolean {_describe(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER_RE.match(text):
            return int(text)
        # "12.0000" happens for quantities; accept it only when it is whole.
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"expected an integer, got {_describe(value)}")
        value = number
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"expected an integer, got {_describe(value)}")
        value = Decimal(str(value))
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ValueError(f"expected an integer, got {_describe(value)}")
        return int(value)
    raise ValueError(f"expected an integer, got {type(value).__name__} {_describe(value)}")


def to_decimal(value: Any) -> Decimal:
    """A finite Decimal from a decimal string ("84.0336"), an int, a Decimal or a float (through its repr)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a decimal number, got a boolean {_describe(value)}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # str() first: Decimal(0.1) would carry the binary noise of the float.
        number = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("expected a decimal number, got an empty string")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"expected a decimal number, got {_describe(value)}")
    else:
        raise ValueError(f"expected a decimal number, got {type(value).__name__} {_describe(value)}")
    if not number.is_finite():
        raise ValueError(f"expected a finite decimal number, got {_describe(value)}")
    return number


def to_object(value: Any) -> dict:
    """A dict; PHP encodes an empty associative array as `[]`, so an empty list becomes `{}`."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list) and not value:
        return {}
    raise ValueError(f"expected an object, got {type(value).__name__} {_describe(value)}")


def to_aware_datetime(value: Any) -> datetime:
    """An aware datetime from eMAG's `YYYY-mm-dd HH:MM:SS`, which is Europe/Bucharest local time.

    In the autumn hour that happens twice, eMAG's text cannot say which one it means;
    the first (summer time, fold=0) is taken.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=EMAG_TIME_ZONE)
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date and time, got {type(value).__name__} {_describe(value)}")
    text = value.strip()
    if not _DATETIME_RE.match(text):
        raise ValueError(f"expected a date and time as YYYY-mm-dd HH:MM:SS, got {_describe(value)}")
    try:
        naive = datetime.strptime(text, EMAG_DATETIME_FORMAT)
    except ValueError:
        # Such as "0000-00-00 00:00:00", MySQL's zero date.
        raise ValueError(f"not a valid date and time: {_describe(value)}")
    return naive.replace(tzinfo=EMAG_TIME_ZONE)


def format_emag_datetime(value: datetime) -> str:
    """The `YYYY-mm-dd HH:MM:SS` Bucharest local text eMAG expects in filters such as modifiedAfter."""
    if value.tzinfo is None:
        raise ValueError("a naive datetime is ambiguous; pass an aware one")
    return value.astimezone(EMAG_TIME_ZONE).strftime(EMAG_DATETIME_FORMAT)
