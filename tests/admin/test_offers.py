import csv
import io
import re

import pytest
from django.contrib import admin
from django.contrib.admin import site

from emag.admin import EstimatedCountPaginator
from emag.models import Offer

CHANGELIST = "/admin/emag/offer/"


def _skus(response):
    return sorted(offer.product.sku + "@" + offer.account.name for offer in response.context["cl"].result_list)


def test_it_lists_the_columns_staff_need(login, viewer, offers):
    response = login(viewer).get(CHANGELIST)

    assert response.status_code == 200
    for header in (
        "SKU",
        "Name",
        "Account",
        "Price",
        "Stock total",
        "Status",
        "Is sellable",
        "Validation",
        "Buy button rank",
        "Last changed at",
    ):
        assert header in response.text
    assert "LMP-042" in response.text and "84.03 RON" in response.text and "Documentation approved" in response.text


def test_the_list_costs_the_same_few_queries_however_many_offers(login, viewer, account, django_assert_max_num_queries):
    from tests.admin.conftest import make_offer

    for i in range(60):
        make_offer(account, f"SKU-{i:03d}", 5000 + i)
    client = login(viewer)

    with django_assert_max_num_queries(12):
        response = client.get(CHANGELIST)

    assert len(response.context["cl"].result_list) == 50


def test_it_never_counts_the_whole_table_for_a_filtered_list(login, viewer, offers):
    response = login(viewer).get(CHANGELIST + "?status__exact=1")

    assert response.context["cl"].full_result_count is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("account__id__exact={fbe}", ["LMP-042@fbe"]),
        ("status__exact=0", ["FRB-007@main"]),
        ("is_sellable__exact=1", ["LMP-042@fbe", "LMP-042@main"]),
        ("validation=5", ["MIX-100@main"]),
        ("offer_validation=2", ["OLD-001@main"]),
        ("stock=out", ["FRB-007@main"]),
        ("stock=low", ["LMP-042@fbe"]),
        ("stock=in", ["LMP-042@main", "MIX-100@main", "OLD-001@main"]),
        ("is_present__exact=0", ["OLD-001@main"]),
        ("is_present__exact=1&stock=in", ["LMP-042@main", "MIX-100@main"]),
    ],
)
def test_each_filter_narrows_the_list(login, viewer, offers, query, expected):
    query = query.format(fbe=offers["lamp_fbe"].account_id)

    response = login(viewer).get(f"{CHANGELIST}?{query}")

    assert response.status_code == 200
    assert _skus(response) == expected


def test_a_bad_filter_value_shows_nothing_rather_than_failing(login, viewer, offers):
    response = login(viewer).get(f"{CHANGELIST}?validation=abc")

    assert response.status_code == 200
    assert _skus(response) == []


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("LMP-042", ["LMP-042@fbe", "LMP-042@main"]),
        ("fierbator", ["FRB-007@main"]),
        ("5941234567890", ["LMP-042@fbe", "LMP-042@main"]),
        ("D33HD4MBM", ["LMP-042@fbe", "LMP-042@main"]),
        ("20042", ["LMP-042@fbe"]),
    ],
    ids=["sku", "name", "ean", "pnk", "emag-id"],
)
def test_search_finds_offers_by_sku_name_ean_pnk_and_emag_id(login, viewer, offers, term, expected):
    response = login(viewer).get(CHANGELIST, {"q": term})

    assert _skus(response) == expected


@pytest.mark.parametrize(
    "term", ["lampa", "LMP-0", "33hd4", "4123456", "lampa led", '"birou LED"', "mixer frb", "'", "nothing-like-this"]
)
def test_a_substring_search_finds_what_djangos_own_search_finds(login, viewer, offers, rf, term):
    response = login(viewer).get(CHANGELIST, {"q": term})

    model_admin = site._registry[Offer]
    djangos, _ = admin.ModelAdmin.get_search_results(model_admin, rf.get("/"), Offer.objects.all(), term)
    assert sorted(offer.pk for offer in response.context["cl"].result_list) == sorted(
        djangos.values_list("pk", flat=True)
    )
    assert response.context["cl"].result_count == djangos.count()


def test_the_detail_explains_why_an_offer_is_not_sellable(login, viewer, offers):
    response = login(viewer).get(f"{CHANGELIST}{offers['kettle'].pk}/change/")

    assert response.status_code == 200
    text = response.text
    assert "Not sellable" in text
    conditions = re.findall(r'<span class="mf-check mf-(ok|error)">.</span></td><td>([^<]+)</td>', text)
    assert conditions == [
        ("error", "Stock above 0"),
        ("error", "Status is active (1)"),
        ("ok", "Offer validation is saleable (1)"),
        ("ok", "Validation status is 3, 9, 11 or 12"),
    ]


def test_the_detail_shows_a_sellable_offer_with_each_condition_met(login, viewer, offers):
    text = login(viewer).get(f"{CHANGELIST}{offers['lamp'].pk}/change/").text

    assert '<strong class="mf-badge mf-ok">Sellable</strong>' in text
    assert text.count('class="mf-check mf-ok"') == 4


def test_the_detail_shows_stock_per_warehouse_and_the_raw_record(login, viewer, offers):
    text = login(viewer).get(f"{CHANGELIST}{offers['gone'].pk}/change/").text

    assert "<tr><td>1</td><td>50</td></tr><tr><td>7</td><td>25</td></tr>" in text
    assert '<pre class="mf-json">{\n  &quot;id&quot;: 10001,' in text
    assert "Invalid price" in text


def test_the_detail_links_the_same_product_on_the_other_account(login, viewer, offers):
    text = login(viewer).get(f"{CHANGELIST}{offers['lamp'].pk}/change/").text

    assert f"{CHANGELIST}{offers['lamp_fbe'].pk}/change/" in text


def test_offers_are_read_only_even_for_admins(login, admin_user, offers):
    client = login(admin_user)
    offer = offers["lamp"]

    page = client.get(f"{CHANGELIST}{offer.pk}/change/")
    response = client.post(f"{CHANGELIST}{offer.pk}/change/", {"stock_total": 0})

    assert 'name="_save"' not in page.text
    assert response.status_code == 403
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    offer.refresh_from_db()
    assert offer.stock_total == 10


def test_csv_export_streams_the_filtered_list(login, viewer, offers):
    client = login(viewer)

    response = client.get(f"{CHANGELIST}export.csv?is_sellable__exact=1&q=LMP")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted((r["account"], r["sku"], r["stock"]) for r in rows) == [
        ("fbe", "LMP-042", "3"),
        ("main", "LMP-042", "10"),
    ]
    assert rows[0]["sellable"] == "1"


def test_csv_export_defuses_spreadsheet_formulas(login, viewer, account):
    from tests.admin.conftest import make_offer

    make_offer(account, "EVIL-1", 1, name="=HYPERLINK(1)")

    body = b"".join(login(viewer).get(f"{CHANGELIST}export.csv").streaming_content).decode()

    assert "'=HYPERLINK(1)" in body


def test_the_list_links_to_the_export_with_the_current_filters(login, viewer, offers):
    text = login(viewer).get(CHANGELIST + "?stock=out").text

    assert f"{CHANGELIST}export.csv?stock=out" in text


def test_csv_export_needs_the_view_permission(login, db, offers):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(email="nobody@example.com", password="x-Long-passw0rd", is_staff=True)

    assert login(user).get(f"{CHANGELIST}export.csv").status_code == 403


def test_the_paginator_counts_exactly_where_it_cannot_estimate(offers):
    paginator = EstimatedCountPaginator(Offer.objects.all(), 2)

    assert paginator.count == 5


def test_a_part_of_a_sku_still_finds_it_when_nothing_matches_exactly(login, viewer, offers):
    response = login(viewer).get(CHANGELIST, {"q": "MP-04"})

    assert _skus(response) == ["LMP-042@fbe", "LMP-042@main"]


def test_a_deep_page_shows_the_same_rows_as_a_plain_offset(login, viewer, account, monkeypatch):
    from tests.admin.conftest import make_offer

    for i in range(12):
        make_offer(account, f"SKU-{i:03d}", 7000 + i)
    monkeypatch.setattr(EstimatedCountPaginator, "DEEP_OFFSET", 1)
    ordered = Offer.objects.order_by("account_id", "emag_id")

    paginator = EstimatedCountPaginator(ordered.select_related("product"), 5)

    assert [o.emag_id for o in paginator.page(2).object_list] == [o.emag_id for o in ordered[5:10]]
    assert [o.emag_id for o in paginator.page(3).object_list] == [o.emag_id for o in ordered[10:12]]
