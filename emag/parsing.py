"""The record parser: one eMAG offer record in, clean values or a Rejection out.

`parse_offer` never raises. Whatever eMAG (or a fault of the sandbox) sends, the
caller gets either a `ParsedOffer` ready to be written or a `Rejection` with a
stable reason code and a message a person can act on. The sync logs rejections
as SyncError rows and carries on with the rest of the page.

Values are checked against the columns they are bound for, so a record that would
fail in the database (a string too long, a number out of range) is refused here,
in Python, before the page's transaction starts.
"""

import hashlib
import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson

from emag.coerce import to_decimal, to_int, to_object

# eMAG's validation statuses in which an offer can be sold (emag-api.md §4).
SELLABLE_VALIDATION_STATUSES = frozenset({3, 9, 11, 12})
OFFER_STATUSES = frozenset({0, 1, 2})

# Column limits of Product and Offer (emag/models.py).
MAX_SKU = 64
MAX_PNK = 32
MAX_NAME = 255
MAX_BRAND = 255
MAX_URL = 1024
MAX_DESCRIPTION_LABEL = 255
MAX_EAN_TEXT = 512
# DecimalField(max_digits=14, decimal_places=4): at most 10 digits before the point.
MAX_PRICE = Decimal("9999999999.9999")
PRICE_QUANTUM = Decimal("0.0001")
INT32_MAX = 2**31 - 1
SMALLINT_MAX = 2**15 - 1
MAX_STOCK = 65535

# How much of an offending record a SyncError keeps.
RECORD_EXCERPT_CHARS = 2000


class Reason:
    """Stable reason codes of a Rejection (and of SyncError.reason_code)."""

    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    INVALID_VALUE = "invalid_value"
    NEGATIVE_VALUE = "negative_value"
    OUT_OF_RANGE = "out_of_range"
    TOO_LONG = "too_long"
    DUPLICATE_ID = "duplicate_id"
    DUPLICATE_SKU = "duplicate_sku"
    DATABASE_ERROR = "database_error"
    UNEXPECTED = "unexpected"


@dataclass(frozen=True)
class Rejection:
    """Why a record cannot be stored, with what could be read of its identity."""

    reason_code: str
    message: str
    emag_id: int | None = None
    sku: str = ""


@dataclass
class ParsedOffer:
    """The clean values of one record: the product (shared by SKU) and the offer (per account)."""

    emag_id: int
    sku: str
    product: dict[str, Any]
    offer: dict[str, Any]
    product_hash: str
    offer_hash: str
    raw: dict[str, Any] = field(repr=False)
    # `raw` already as JSON text (the canonical text the offer hash is taken of), so the writer
    # need not serialise a few kilobytes per offer again; empty when not known.
    raw_json: str = field(default="", repr=False)


class _Refused(Exception):
    """Internal: a field failed a check; becomes a Rejection at the edge of parse_offer."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


def parse_offer(record: Any) -> ParsedOffer | Rejection:
    """Turn one raw record of product_offer/read into a ParsedOffer, or say why not. Never raises."""
    if not isinstance(record, dict):
        return Rejection(Reason.NOT_AN_OBJECT, f"the record is a {type(record).__name__}, not an object")
    emag_id = _identity_id(record)
    sku = _identity_sku(record)
    try:
        return _parse(record)
    except _Refused as refused:
        return Rejection(refused.reason_code, refused.message, emag_id=emag_id, sku=sku)
    except Exception as exc:  # the parser's promise: a rejection, never a crash of the page
        return Rejection(Reason.UNEXPECTED, f"{type(exc).__name__}: {exc}"[:500], emag_id=emag_id, sku=sku)


def content_hash(value: Any) -> str:
    """A 32-character digest of a JSON-able value, independent of key order."""
    try:
        # orjson writes what json.dumps below writes (sorted keys, no spaces, UTF-8 as is), several times faster.
        data = orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # what orjson does not take (an int beyond 64 bits, a non-str key): the standard library
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        data = text.encode("utf-8")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def json_safe(value: Any) -> Any:
    """The value with Decimals made JSON-able, for the raw column.

    The client reads JSON numbers as Decimal so no price goes through a float. A
    JSONField cannot store a Decimal, so a Decimal becomes the float that prints
    the same digits when there is one (84.0336 stays 84.0336), else its text.
    """
    if isinstance(value, Decimal):
        if value.is_finite():
            as_float = float(value)
            if Decimal(repr(as_float)) == value:
                return int(value) if value == value.to_integral_value() and "." not in str(value) else as_float
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def _json_decimal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return json_safe(value)
    raise TypeError(f"a {type(value).__name__} is not JSON")


def canonical_json(record: dict) -> tuple[str, bool]:
    """The record as canonical JSON text (sorted keys), and whether it held Decimals.

    One pass serves both the content hash and, when the record is already plain JSON
    (eMAG sends prices as strings), tells that it can be stored as it is.
    """
    held_decimal = False

    def default(value: Any) -> Any:
        nonlocal held_decimal
        held_decimal = True
        return _json_decimal(value)

    try:
        # The same text json.dumps below gives, several times faster (the sync's largest cost in Python).
        text = orjson.dumps(record, default=default, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except TypeError:  # what orjson does not take (an int beyond 64 bits, a non-str key): the standard library
        held_decimal = False
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default)
    return text, held_decimal


def record_excerpt(record: Any) -> str:
    """The record as JSON text, cut to RECORD_EXCERPT_CHARS, for SyncError.record."""
    try:
        text = json.dumps(json_safe(record), ensure_ascii=False, default=str)
    except Exception:
        text = repr(record)
    if len(text) > RECORD_EXCERPT_CHARS:
        return text[: RECORD_EXCERPT_CHARS - 15] + " …[truncated]"
    return text


# --- identity, read leniently so even a rejection can say which record it was --------------


def _identity_id(record: dict) -> int | None:
    try:
        value = to_int(record.get("id"))
    except (ValueError, TypeError):
        return None
    return value if 0 < value <= 2**63 - 1 else None


def _identity_sku(record: dict) -> str:
    value = record.get("part_number")
    if isinstance(value, str):
        return value.strip()[:255]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


# --- the parse proper --------------------------------------------------------------------


def _parse(record: dict) -> ParsedOffer:
    text, held_decimal = canonical_json(record)
    # The JSON-able copy, for the JSON columns: the record itself unless it held Decimals.
    safe = orjson.loads(text) if held_decimal else record
    if record.get("id") is None:
        raise _Refused(Reason.MISSING_FIELD, "the record has no id")
    emag_id = _int(record, "id")
    if emag_id < 1:
        raise _Refused(Reason.OUT_OF_RANGE, f"id must be a positive integer, got {emag_id}")
    if emag_id > 2**63 - 1:
        raise _Refused(Reason.OUT_OF_RANGE, f"id {emag_id} does not fit a 64-bit integer")

    sku = _text(record, "part_number", MAX_SKU, required=True)
    if not sku:
        raise _Refused(Reason.MISSING_FIELD, "part_number (the SKU) is empty")

    if record.get("status") is None:
        raise _Refused(Reason.MISSING_FIELD, "the record has no status")
    status = _int(record, "status")
    if status not in OFFER_STATUSES:
        raise _Refused(Reason.OUT_OF_RANGE, f"status must be 0, 1 or 2, got {status}")

    part_number_key = _text(record, "part_number_key", MAX_PNK)
    eans = _eans(record)
    ean_text = " ".join(eans)
    if len(ean_text) > MAX_EAN_TEXT:
        raise _Refused(Reason.TOO_LONG, f"ean holds {len(eans)} codes, more than MagFlow keeps")

    product = {
        "sku": sku,
        "part_number_key": part_number_key,
        "name": _text(record, "name", MAX_NAME),
        "brand": _text(record, "brand", MAX_BRAND),
        "description": _text(record, "description", None),
        "url": _text(record, "url", MAX_URL),
        "category_id": _optional_int(record, "category_id", minimum=0, maximum=INT32_MAX),
        "vendor_category_id": _optional_int(record, "vendor_category_id", minimum=0, maximum=INT32_MAX),
        "warranty": _optional_int(record, "warranty", minimum=0, maximum=SMALLINT_MAX),
        "eans": eans,
        "ean_text": ean_text,
        "images": _list_of_objects(safe, "images"),
        "characteristics": _list_of_objects(safe, "characteristics"),
        "family": _optional_object(safe, "family") or None,
    }

    stock = _warehouse_values(record, "stock", maximum=MAX_STOCK)
    handling_time = _warehouse_values(record, "handling_time", maximum=255)
    general_stock = _optional_int(record, "general_stock", minimum=0, maximum=INT32_MAX)
    stock_total = sum(item["value"] for item in stock) if stock else (general_stock or 0)
    validation_status, validation_description = _validation(record, "validation_status")
    offer_validation_status, offer_validation_description = _validation(record, "offer_validation_status")
    offer_details = _optional_object(record, "offer_details") or {}
    emag_offer_id = None
    if offer_details.get("id") is not None:
        emag_offer_id = _checked_int(offer_details["id"], "offer_details.id", minimum=0, maximum=2**63 - 1)

    prices = {
        name: _price(record, name)
        for name in (
            "sale_price",
            "recommended_price",
            "min_sale_price",
            "max_sale_price",
            "best_offer_sale_price",
            "best_offer_recommended_price",
        )
    }
    currency = _text(record, "currency", 3).upper()

    offer = {
        "emag_id": emag_id,
        "emag_offer_id": emag_offer_id,
        "part_number_key": part_number_key,
        **prices,
        "currency": currency,
        "vat_id": _optional_int(record, "vat_id", minimum=0, maximum=INT32_MAX),
        "status": status,
        "stock": [{"warehouse_id": item["warehouse_id"], "value": item["value"]} for item in stock],
        "stock_total": min(stock_total, INT32_MAX),
        "general_stock": general_stock,
        # Stock minus what unacknowledged orders hold: it can dip below zero.
        "estimated_stock": _optional_int(record, "estimated_stock", minimum=-INT32_MAX, maximum=INT32_MAX),
        "handling_time": [{"warehouse_id": item["warehouse_id"], "value": item["value"]} for item in handling_time],
        "handling_time_days": min((item["value"] for item in handling_time), default=None),
        "validation_status": validation_status,
        "validation_status_description": validation_description,
        "offer_validation_status": offer_validation_status,
        "offer_validation_status_description": offer_validation_description,
        "doc_errors": safe.get("doc_errors"),
        "buy_button_rank": _optional_int(record, "buy_button_rank", minimum=0, maximum=INT32_MAX),
        "number_of_offers": _optional_int(record, "number_of_offers", minimum=0, maximum=INT32_MAX),
        "ownership": _optional_int(record, "ownership", minimum=0, maximum=SMALLINT_MAX),
        "genius_eligibility": _optional_int(record, "genius_eligibility", minimum=0, maximum=SMALLINT_MAX),
        "genius_eligibility_type": _optional_int(record, "genius_eligibility_type", minimum=0, maximum=SMALLINT_MAX),
        "genius_computed": _optional_int(record, "genius_computed", minimum=0, maximum=SMALLINT_MAX),
        "is_sellable": is_sellable(status, stock_total, offer_validation_status, validation_status),
    }

    raw = safe
    # The offer's hash covers the whole record as eMAG sent it: any change eMAG makes
    # (even to a field MagFlow does not split out) rewrites the row and its raw copy.
    offer_hash = hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
    product_hash = content_hash(product)
    offer["raw"] = raw
    offer["content_hash"] = offer_hash
    product["content_hash"] = product_hash
    return ParsedOffer(
        emag_id=emag_id,
        sku=sku,
        product=product,
        offer=offer,
        product_hash=product_hash,
        offer_hash=offer_hash,
        raw=raw,
        raw_json=text,
    )


def is_sellable(
    status: int, stock_total: int, offer_validation_status: int | None, validation_status: int | None
) -> bool:
    """eMAG's rule: stock > 0, active, offer validation 1 (saleable), documentation status 3, 9, 11 or 12."""
    return (
        stock_total > 0
        and status == 1
        and offer_validation_status == 1
        and validation_status in SELLABLE_VALIDATION_STATUSES
    )


# --- field helpers: each returns a clean value or raises _Refused ---------------------------


def _checked_int(value: Any, name: str, *, minimum: int, maximum: int) -> int:
    if type(value) is int and minimum <= value <= maximum:  # most values: no coercion (a bool is not an int here)
        return value
    try:
        number = to_int(value)
    except (ValueError, TypeError) as exc:
        raise _Refused(Reason.INVALID_VALUE, f"{name}: {exc}")
    if number < 0 and minimum >= 0:
        raise _Refused(Reason.NEGATIVE_VALUE, f"{name} must not be negative, got {number}")
    if not minimum <= number <= maximum:
        raise _Refused(Reason.OUT_OF_RANGE, f"{name} must lie within [{minimum}, {maximum}], got {number}")
    return number


def _int(record: dict, name: str) -> int:
    try:
        return to_int(record.get(name))
    except (ValueError, TypeError) as exc:
        raise _Refused(Reason.INVALID_VALUE, f"{name}: {exc}")


def _optional_int(record: dict, name: str, *, minimum: int, maximum: int) -> int | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    return _checked_int(value, name, minimum=minimum, maximum=maximum)


def _text(record: dict, name: str, max_length: int | None, *, required: bool = False) -> str:
    value = record.get(name)
    if type(value) is str:
        text = value.strip()
    elif value is None:
        if required:
            raise _Refused(Reason.MISSING_FIELD, f"the record has no {name}")
        return ""
    elif isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Refused(Reason.INVALID_VALUE, f"{name}: expected text, got {type(value).__name__}")
    else:
        text = str(value).strip()
    if "\x00" in text:
        # PostgreSQL refuses NUL in text columns; better a clear rejection than a failed page.
        raise _Refused(Reason.INVALID_VALUE, f"{name} contains a NUL character")
    if max_length is not None and len(text) > max_length:
        raise _Refused(Reason.TOO_LONG, f"{name} is {len(text)} characters long, at most {max_length} are allowed")
    return text


def _price(record: dict, name: str) -> Decimal | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    try:
        number = to_decimal(value)
    except (ValueError, TypeError) as exc:
        raise _Refused(Reason.INVALID_VALUE, f"{name}: {exc}")
    if number < 0:
        raise _Refused(Reason.NEGATIVE_VALUE, f"{name} must not be negative, got {number}")
    if number > MAX_PRICE:
        raise _Refused(Reason.OUT_OF_RANGE, f"{name} {number} is larger than MagFlow stores")
    # eMAG keeps four decimals; the raw copy keeps whatever was sent.
    return number.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)


def _list(record: dict, name: str) -> list:
    value = record.get(name)
    if value is None:
        return []
    if isinstance(value, dict) and not value:
        return []
    if not isinstance(value, list):
        raise _Refused(Reason.INVALID_VALUE, f"{name}: expected a list, got {type(value).__name__}")
    return value


def _list_of_objects(record: dict, name: str) -> list[dict]:
    items = _list(record, name)
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise _Refused(Reason.INVALID_VALUE, f"{name}[{position}]: expected an object, got {type(item).__name__}")
    return items


def _optional_object(record: dict, name: str) -> dict | None:
    value = record.get(name)
    if value is None:
        return None
    try:
        return to_object(value)
    except ValueError as exc:
        raise _Refused(Reason.INVALID_VALUE, f"{name}: {exc}")


def _eans(record: dict) -> list[str]:
    eans = []
    for position, value in enumerate(_list(record, "ean")):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise _Refused(Reason.INVALID_VALUE, f"ean[{position}]: expected text, got {type(value).__name__}")
        text = str(value).strip()
        if not text.isdigit():
            raise _Refused(Reason.INVALID_VALUE, f"ean[{position}] {text[:40]!r} is not made of digits")
        eans.append(text)
    return eans


def _warehouse_values(record: dict, name: str, *, maximum: int) -> list[dict]:
    """`[{"warehouse_id": 1, "value": 12}]` with integers checked; PHP may send an empty object."""
    values = []
    for position, item in enumerate(_list(record, name)):
        if not isinstance(item, dict):
            raise _Refused(Reason.INVALID_VALUE, f"{name}[{position}]: expected an object, got {type(item).__name__}")
        if item.get("value") is None:
            raise _Refused(Reason.MISSING_FIELD, f"{name}[{position}] has no value")
        warehouse_id = item.get("warehouse_id")
        values.append(
            {
                "warehouse_id": None
                if warehouse_id is None
                else _checked_int(warehouse_id, f"{name}[{position}].warehouse_id", minimum=0, maximum=INT32_MAX),
                "value": _checked_int(item["value"], f"{name}[{position}].value", minimum=0, maximum=maximum),
            }
        )
    return values


def _validation(record: dict, name: str) -> tuple[int | None, str]:
    """`{value, description, errors}`, or a list of them (validation_status): the first one counts."""
    value = record.get(name)
    if value is None:
        return None, ""
    if isinstance(value, list):
        if not value:
            return None, ""
        value = value[0]
        name = f"{name}[0]"
    if not isinstance(value, dict):
        raise _Refused(Reason.INVALID_VALUE, f"{name}: expected an object, got {type(value).__name__}")
    if value.get("value") is None:
        return None, ""
    number = _checked_int(value["value"], f"{name}.value", minimum=0, maximum=SMALLINT_MAX)
    description = value.get("description")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise _Refused(Reason.INVALID_VALUE, f"{name}.description: expected text, got {type(description).__name__}")
    # A label, not data: eMAG's full text stays in the raw copy.
    return number, description.strip()[:MAX_DESCRIPTION_LABEL]
