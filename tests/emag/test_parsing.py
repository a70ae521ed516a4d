import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from emag.parsing import ParsedOffer, Reason, Rejection, content_hash, json_safe, parse_offer, record_excerpt

FIXTURE = Path(__file__).parent / "fixtures" / "offer_record.json"


@pytest.fixture
def record():
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def parsed(record) -> ParsedOffer:
    result = parse_offer(record)
    assert isinstance(result, ParsedOffer), result
    return result


def rejected(record) -> Rejection:
    result = parse_offer(record)
    assert isinstance(result, Rejection), result
    return result


def test_it_turns_the_reference_record_into_product_and_offer_values(record):
    result = parsed(record)

    assert result.emag_id == 10042
    assert result.sku == "LMP-042"
    assert result.product["name"] == "Lampa birou LED"
    assert result.product["part_number_key"] == "D33HD4MBM"
    assert result.product["eans"] == ["5941234567890"]
    assert result.product["ean_text"] == "5941234567890"
    assert result.product["category_id"] == 3514
    assert result.product["vendor_category_id"] is None
    assert result.product["warranty"] == 24
    assert result.product["family"] == {"id": 77, "name": "Lampa birou", "family_type_id": 95}
    offer = result.offer
    assert offer["sale_price"] == Decimal("84.0336")
    assert offer["min_sale_price"] == Decimal("50.0000")
    assert offer["recommended_price"] is None
    assert offer["currency"] == "RON"
    assert offer["status"] == 1
    assert offer["stock"] == [{"warehouse_id": 1, "value": 12}]
    assert offer["stock_total"] == 12
    assert offer["general_stock"] == 12
    assert offer["estimated_stock"] == 11
    assert offer["handling_time_days"] == 1
    assert offer["validation_status"] == 9
    assert offer["validation_status_description"] == "Approved documentation"
    assert offer["offer_validation_status"] == 1
    assert offer["emag_offer_id"] == 105419640
    assert offer["is_sellable"] is True
    assert offer["raw"]["translation_validation_status"][0]["value"] == 9


def test_it_reads_php_style_values(record):
    record["id"] = "10042"
    record["status"] = "1"
    record["family"] = []
    record["offer_details"] = []
    record["stock"] = [{"warehouse_id": "1", "value": "3"}]
    record["sale_price"] = Decimal("84.03361")

    result = parsed(record)

    assert result.emag_id == 10042
    assert result.product["family"] is None
    assert result.offer["emag_offer_id"] is None
    assert result.offer["stock_total"] == 3
    assert result.offer["sale_price"] == Decimal("84.0336")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, Reason.MISSING_FIELD),
        ({"id": "abc"}, Reason.INVALID_VALUE),
        ({"id": 0}, Reason.OUT_OF_RANGE),
        ({"part_number": None}, Reason.MISSING_FIELD),
        ({"part_number": "  "}, Reason.MISSING_FIELD),
        ({"part_number": "X" * 65}, Reason.TOO_LONG),
        ({"part_number": {"a": 1}}, Reason.INVALID_VALUE),
        ({"name": "N" * 256}, Reason.TOO_LONG),
        ({"status": None}, Reason.MISSING_FIELD),
        ({"status": 7}, Reason.OUT_OF_RANGE),
        ({"status": True}, Reason.INVALID_VALUE),
        ({"sale_price": "-1.0000"}, Reason.NEGATIVE_VALUE),
        ({"sale_price": "cheap"}, Reason.INVALID_VALUE),
        ({"sale_price": "1e20"}, Reason.OUT_OF_RANGE),
        ({"stock": [{"warehouse_id": 1, "value": -5}]}, Reason.NEGATIVE_VALUE),
        ({"stock": [{"warehouse_id": 1, "value": 70000}]}, Reason.OUT_OF_RANGE),
        ({"stock": "12"}, Reason.INVALID_VALUE),
        ({"ean": ["59412345x"]}, Reason.INVALID_VALUE),
        ({"images": ["not an object"]}, Reason.INVALID_VALUE),
        ({"category_id": [1]}, Reason.INVALID_VALUE),
        ({"name": "Lampa\x00"}, Reason.INVALID_VALUE),
    ],
)
def test_it_rejects_a_malformed_record_with_a_reason(record, change, reason):
    record.update(change)

    result = rejected(record)

    assert result.reason_code == reason
    assert result.message


def test_a_rejection_still_says_which_record_it_was(record):
    record["sale_price"] = "-3"

    result = rejected(record)

    assert result.emag_id == 10042
    assert result.sku == "LMP-042"
    assert "sale_price" in result.message


@pytest.mark.parametrize("value", [None, 42, "text", [1, 2], b"bytes"])
def test_it_rejects_what_is_not_an_object(value):
    assert rejected(value).reason_code == Reason.NOT_AN_OBJECT


def test_it_never_raises_even_on_hostile_input(record):
    class Weird:
        def __str__(self):
            raise RuntimeError("boom")

    for key in list(record):
        broken = copy.deepcopy(record)
        broken[key] = Weird()
        result = parse_offer(broken)
        assert isinstance(result, (ParsedOffer, Rejection))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, True),
        ({"stock": [{"warehouse_id": 1, "value": 0}]}, False),
        ({"status": 0}, False),
        ({"offer_validation_status": {"value": 2, "description": "Invalid price"}}, False),
        ({"validation_status": [{"value": 1, "description": "Awaiting"}]}, False),
        ({"validation_status": [{"value": 3, "description": "EAN"}]}, True),
        ({"validation_status": [{"value": 12, "description": "Update rejected"}]}, True),
    ],
)
def test_it_applies_emags_sellable_rule(record, change, expected):
    record.update(change)

    assert parsed(record).offer["is_sellable"] is expected


def test_the_content_hash_ignores_key_order_and_follows_every_change(record):
    first = parsed(record)
    reordered = dict(reversed(list(record.items())))
    assert parsed(reordered).offer_hash == first.offer_hash

    record["genius_computed"] = 0  # a field MagFlow does not split out still counts
    changed = parsed(record)
    assert changed.offer_hash != first.offer_hash
    assert changed.product_hash == first.product_hash

    record["name"] = "Lampa birou LED 2"
    assert parsed(record).product_hash != first.product_hash


def test_the_raw_copy_is_json_without_losing_decimal_digits():
    raw = json_safe({"a": Decimal("84.0336"), "b": [Decimal("12")], "c": Decimal("0.1000000000000000000001")})

    assert json.loads(json.dumps(raw)) == {"a": 84.0336, "b": [12], "c": "0.1000000000000000000001"}
    assert content_hash(raw) == content_hash(json.loads(json.dumps(raw)))


def test_the_record_excerpt_is_bounded():
    excerpt = record_excerpt({"description": "x" * 10_000})

    assert len(excerpt) <= 2000
    assert excerpt.endswith("[truncated]")
