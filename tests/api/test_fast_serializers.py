"""The list serializers' fast path gives exactly what DRF's own field machinery gives."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from emag import selectors
from emag.api.fast import FastRepresentationMixin, _formatter, values_plan, values_rows
from emag.api.legacy import LegacyOfferRowSerializer
from emag.api.serializers import OfferSerializer, ProductSerializer, SyncErrorSerializer, SyncRunSerializer
from emag.models import SyncError
from tests.api.conftest import make_offer, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def varied(account, other_account):
    """Offers with nulls, decimals of every scale, old and new dates, every status, a PNK."""
    long_ago = timezone.now() - timedelta(days=400, microseconds=123)
    make_offer(account, "V-1", name="Lampă birou", ean="5941234567890", price="12.3", status=1, part_number_key="PNK1")
    make_offer(account, "V-2", price=None, status=0, sellable=False, validation_status=None, last_changed_at=long_ago)
    make_offer(other_account, "V-1", price="99999.9999", status=2, recommended_price=Decimal("5"), buy_button_rank=1)
    other_account.last_full_sync_at = timezone.now()
    other_account.save()
    run = make_run(account, status="failed", error_code="auth", error_message="eMAG refused")
    make_run(other_account, status="queued", started_at=None)  # no duration yet (a running one changes by the call)
    SyncError.objects.create(run=run, page=1, index=0, emag_id=5, sku="V-1", reason_code="bad_ean", message="x")


def _drf_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FastRepresentationMixin, "to_representation", serializers.Serializer.to_representation)


def _render(serializer_class: type, rows: list) -> bytes:
    return JSONRenderer().render(serializer_class(rows, many=True).data)


@pytest.mark.parametrize(
    ("serializer_class", "rows"),
    [
        (OfferSerializer, lambda: list(selectors.offer_list().order_by("id"))),
        (ProductSerializer, lambda: list(selectors.product_list().order_by("id"))),
        (LegacyOfferRowSerializer, lambda: list(selectors.offer_list().order_by("id"))),
        (SyncRunSerializer, lambda: list(selectors.sync_run_list().order_by("id"))),
        (SyncErrorSerializer, lambda: list(selectors.sync_error_list())),
    ],
)
def test_it_renders_the_same_json_as_drf_field_by_field(monkeypatch, varied, serializer_class, rows):
    fast = _render(serializer_class, rows())
    _drf_only(monkeypatch)
    reference = _render(serializer_class, rows())
    assert json.loads(fast)  # something to compare
    assert fast == reference


def test_it_keeps_the_fields_order_and_formats(varied):
    offer = OfferSerializer(selectors.offer_list().get(product__sku="V-1", account__name="main")).data
    assert list(offer) == OfferSerializer.Meta.fields
    assert offer["sale_price"] == "12.3000"
    assert offer["status_label"] == "Active"
    assert offer["product"]["name"] == "Lampă birou"
    assert offer["last_changed_at"].endswith(("+02:00", "+03:00"))  # the project's time zone, as DRF shows it


@pytest.fixture
def odd(varied, account):
    """Beyond `varied`: a status eMAG added after us (no label), U+2028 in a name, a date of 1901."""
    make_offer(
        account, "V-3", name="Linie\u2028nouă \u00e9\u4e2d", status=7, last_changed_at=timezone.now().replace(year=1901)
    )


@pytest.mark.parametrize(
    ("serializer_class", "queryset"),
    [
        (OfferSerializer, lambda: selectors.offer_list().order_by("id")),
        (LegacyOfferRowSerializer, lambda: selectors.offer_list().order_by("id")),
        (SyncErrorSerializer, lambda: selectors.sync_error_list()),
    ],
)
def test_it_renders_values_rows_as_drf_renders_model_instances(monkeypatch, odd, serializer_class, queryset):
    rows = list(values_rows(queryset(), serializer_class))
    assert type(rows[0]) is tuple  # read as columns, not model instances
    fast = _render(serializer_class, rows)
    _drf_only(monkeypatch)
    reference = _render(serializer_class, list(queryset()))
    assert len(json.loads(fast)) == len(rows) > 0
    assert fast == reference


def test_it_shows_a_status_without_a_label_as_drf_does(odd):
    rows = values_rows(selectors.offer_list().filter(product__sku="V-3"), OfferSerializer)
    (offer,) = OfferSerializer(rows, many=True).data
    assert offer["status_label"] == "7"
    assert OfferSerializer(selectors.offer_list().get(product__sku="V-3")).data["status_label"] == "7"


def test_it_reads_model_instances_when_a_field_needs_one():
    assert values_plan(ProductSerializer) is None  # its offers are many rows per row
    assert values_plan(SyncRunSerializer) is None  # duration_seconds and is_active are properties
    queryset = selectors.product_list()
    assert values_rows(queryset, ProductSerializer) is queryset


def test_it_reads_only_the_columns_the_offers_list_shows():
    paths = values_plan(OfferSerializer).paths
    assert {"account__name", "account__kind", "product__sku", "status", "last_seen_at"} <= set(paths)
    assert "raw" not in paths and "account__password" not in paths
    assert len(paths) == len(set(paths))


def test_it_gives_a_method_field_only_the_attributes_it_declared(odd):
    class Careless(LegacyOfferRowSerializer):
        method_sources = ("status", "is_present", "last_seen_at", "account__last_full_sync_at")  # no sale_price

    rows = values_rows(selectors.offer_list(), Careless)
    with pytest.raises(AttributeError):
        Careless(rows, many=True).data  # noqa: B018 (the property does the work)


@pytest.mark.parametrize(
    "value",
    ["12.3000", "12.3", "12.30004", "12.30005", "-0.0000", "0", "99999999.9999", "123456789.0000", "0.0001", "1E+3"]
    + ["NaN", "-7.5000"],
)
def test_it_formats_a_decimal_of_any_scale_as_drf(value):
    field = serializers.DecimalField(max_digits=12, decimal_places=4)
    formatter = _formatter(field)
    try:
        expected = field.to_representation(Decimal(value))
    except Exception as error:
        with pytest.raises(type(error)):
            formatter(Decimal(value))
    else:
        assert formatter(Decimal(value)) == expected


def test_it_formats_big_integers_as_drf():
    field = serializers.BigIntegerField()
    assert [_formatter(field)(value) for value in (2**62, -1, True)] == [2**62, -1, 1]


def test_it_counts_values_rows_as_it_counts_the_model_queryset(odd):
    offers = selectors.offer_list().filter(status=1)
    rows = values_rows(offers, OfferSerializer)
    # The count (and the count cache's key) must not pay for the joins the columns need.
    assert str(rows.order_by().values("pk").query) == str(offers.order_by().values("pk").query)
    assert "JOIN" not in str(rows.order_by().values("pk").query)
    assert rows.count() == offers.count() == len(list(rows)) > 0
