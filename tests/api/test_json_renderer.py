"""FastJSONRenderer (orjson) writes what DRF's JSONRenderer writes, or lets DRF's renderer answer."""

import datetime
import decimal
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from magflow.api import FastJSONRenderer
from tests.api.conftest import bearer, make_offer

BUCHAREST = ZoneInfo("Europe/Bucharest")

SAME_BYTES = {
    "nothing": {"none": None, "empty": {}, "list": [], "false": False, "zero": 0},
    "text": {"ro": "Lampă birou ȘȚ", "cjk": "中文", "emoji": "🙂", "controls": 'a\x00\x1f\x7f\n\t"\\/b'},
    "separators": "line\u2028paragraph\u2029end",
    "decimals": [
        decimal.Decimal("12.3000"),
        decimal.Decimal("0"),
        decimal.Decimal("-5"),
        decimal.Decimal("99999.9999"),
    ],
    "datetimes": [
        datetime.datetime(2026, 5, 1, 10, 0, tzinfo=datetime.UTC),
        datetime.datetime(2026, 5, 1, 10, 0, 0, 123456, tzinfo=BUCHAREST),
        datetime.datetime(1901, 1, 1, tzinfo=BUCHAREST),
        datetime.datetime(2026, 5, 1, 10, 0),
    ],
    "dates": [datetime.date(1900, 2, 28), datetime.time(23, 59, 1, 5), datetime.timedelta(days=1, microseconds=7)],
    "lazy": gettext_lazy("Active"),
    "error": {"sku": [ErrorDetail("This field is required.", code="required")]},
    "drf containers": ReturnDict({"results": ReturnList([{"id": 1}], serializer=None)}, serializer=None),
    "other": {"uuid": uuid.UUID(int=7), "tuple": (1, "a"), "set": {3}, "bytes": b"raw", "big": 2**63 - 1},
    "generator": (n for n in range(3)),
}


@pytest.mark.parametrize("data", SAME_BYTES.values(), ids=SAME_BYTES.keys())
def test_it_writes_the_bytes_drf_writes(data):
    if isinstance(data, type(n for n in ())):  # an iterator can be read once: one for each renderer
        fast, reference = FastJSONRenderer().render(range(3).__iter__()), JSONRenderer().render(range(3).__iter__())
    else:
        fast, reference = FastJSONRenderer().render(data), JSONRenderer().render(data)
    assert fast == reference


def test_it_escapes_the_line_separators_as_drf_does():
    assert FastJSONRenderer().render("\u2028\u2029") == b'"\\u2028\\u2029"'


def test_it_writes_the_same_numbers_as_drf():
    data = [0.1, 1e16, 1e-7, -0.0, 100.0, 2.5, 123456789.123]
    assert json.loads(FastJSONRenderer().render(data)) == json.loads(JSONRenderer().render(data))


@pytest.mark.parametrize(
    "data",
    [
        {1: "int key"},
        {"huge": 2**70},
        {"nan": float("nan")},
        [float("inf")],
        {"decimal nan": decimal.Decimal("NaN")},
        "\ud800 a lone surrogate",
        {"object": object()},
        [b"\xff not utf-8"],
        "iterator",
    ],
    ids=["int key", "huge int", "nan", "infinity", "decimal nan", "surrogate", "object", "bad bytes", "iterator"],
)
def test_it_lets_drf_answer_what_orjson_would_write_differently(data):
    def fresh() -> object:  # orjson gives up after the iterator: DRF's renderer must still see all of it
        return {"late": [1, (n for n in range(2)), 2**70]} if data == "iterator" else data

    try:
        reference = JSONRenderer().render(fresh())
    except Exception as error:
        with pytest.raises(type(error)):
            FastJSONRenderer().render(fresh())
    else:
        assert FastJSONRenderer().render(fresh()) == reference


def test_it_indents_when_the_client_asks_as_drf_does():
    data = {"a": [1, 2], "b": "ă"}
    accepted = "application/json; indent=4"
    assert FastJSONRenderer().render(data, accepted, {}) == JSONRenderer().render(data, accepted, {})
    assert b"\n    " in FastJSONRenderer().render(data, accepted, {})


def test_it_renders_nothing_for_none():
    assert FastJSONRenderer().render(None) == b""


def test_the_api_answers_with_it(api_client, viewer, account):
    bearer(api_client, viewer)
    make_offer(account, "R-1", name="Lampă\u2028birou")
    response = api_client.get("/api/v1/emag/offers/")
    assert response.status_code == 200
    assert isinstance(response.accepted_renderer, FastJSONRenderer)
    assert response.content == JSONRenderer().render(response.data)
