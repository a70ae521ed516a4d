"""Long lists: counts that are exact or say they are not, `next` from a look-ahead row, a search that matches DRF's."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from emag.api import pagination
from emag.models import Offer
from tests.api.conftest import bearer, make_offer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def seven_offers(account):
    return [make_offer(account, f"L-{number}") for number in range(7)]


def test_a_short_list_has_an_exact_count(api_client, viewer, seven_offers):
    body = bearer(api_client, viewer).get("/api/v1/emag/offers/?page_size=5").json()
    assert (body["count"], body["count_is_exact"]) == (7, True)
    assert body["next"].endswith("page=2&page_size=5")
    last = api_client.get(body["next"]).json()
    assert [len(last["results"]), last["next"], last["count"]] == [2, None, 7]


def test_above_the_limit_the_count_is_a_recent_exact_count_and_says_so(
    api_client, viewer, account, seven_offers, monkeypatch
):
    monkeypatch.setattr(pagination, "EXACT_COUNT_UP_TO", 3)
    bearer(api_client, viewer)
    first = api_client.get("/api/v1/emag/offers/?page_size=5").json()
    assert (first["count"], first["count_is_exact"]) == (7, True)  # just counted
    make_offer(account, "L-new")
    again = api_client.get("/api/v1/emag/offers/?page_size=5").json()
    assert (again["count"], again["count_is_exact"]) == (7, False)  # the cached count, flagged
    last = api_client.get("/api/v1/emag/offers/?page=2&page_size=5").json()
    assert len(last["results"]) == 3 and last["next"] is None  # paging follows the rows, not the count
    cache.clear()
    assert api_client.get("/api/v1/emag/offers/?page_size=5").json()["count"] == 8


def test_each_filter_has_its_own_count(api_client, viewer, account, seven_offers, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_COUNT_UP_TO", 1)
    make_offer(account, "L-off", status=0)
    bearer(api_client, viewer)
    assert api_client.get("/api/v1/emag/offers/?status=1").json()["count"] == 7
    assert api_client.get("/api/v1/emag/offers/?status=0").json()["count"] == 1
    assert api_client.get("/api/v1/emag/offers/").json()["count"] == 8


def plan_nodes(node):
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def test_the_usual_staff_filter_is_counted_from_one_index_without_reading_the_offers(
    api_client, viewer, account, seven_offers, monkeypatch
):
    """An account's active, sellable offers above a stock floor: at 100,000 offers, a scan of the
    table took 56 ms per count and an index that holds all four columns 4 ms (migration 0010)."""
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    for number in range(20):  # the account's other offers: inactive, unsellable or short of stock
        make_offer(account, f"O-{number}", status=0, sellable=False, stock=number % 5)
    monkeypatch.setattr(pagination, "EXACT_COUNT_UP_TO", 1)  # so the list counts every matching offer
    with CaptureQueriesContext(connection) as queries:
        body = (
            bearer(api_client, viewer)
            .get("/api/v1/emag/offers/?account=main&status=1&sellable=true&stock_min=5")
            .json()
        )
    assert body["count"] == 7
    count_sql = next(q["sql"] for q in queries if q["sql"].startswith('SELECT COUNT(*) AS "__count"'))

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE emag_offer")  # what autovacuum would have learnt of the table
        # 27 rows: PostgreSQL would rightly read them all; asked to use an index, it picks the best one.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN (FORMAT JSON) " + count_sql)
        plan = cursor.fetchone()[0]  # psycopg decodes the JSON
    reads = [node for node in plan_nodes(plan[0]["Plan"]) if node.get("Relation Name") == "emag_offer"]

    assert [read["Index Name"] for read in reads] == ["offer_account_filter_idx"]
    assert "Filter" not in reads[0]  # every condition is met in the index, none by reading rows
    for column in ("status", "is_sellable", "stock_total"):
        assert column in reads[0]["Index Cond"]


def test_a_page_past_the_end_is_not_found(api_client, viewer, seven_offers):
    response = bearer(api_client, viewer).get("/api/v1/emag/offers/?page=3&page_size=5")
    assert response.status_code == 404
    assert api_client.get("/api/v1/emag/offers/?page=0").status_code == 404
    assert api_client.get("/api/v1/emag/offers/?page=last&page_size=5").json()["results"][-1]["product"]["sku"]


def test_products_count_the_same_way(api_client, viewer, seven_offers, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_COUNT_UP_TO", 2)
    body = bearer(api_client, viewer).get("/api/v1/emag/products/?page_size=5").json()
    assert (body["count"], body["count_is_exact"], len(body["results"])) == (7, True, 5)


@pytest.fixture
def searchable(account, other_account):
    make_offer(account, "LMP-1", name="Lampă de birou Lampa", ean="5940000000017")
    make_offer(other_account, "LMP-1")
    make_offer(account, "CAN-2", name="Cana alba", ean="5940000000024", part_number_key="DLAMPABM")
    make_offer(account, "FIE-3", name="Fierbator", ean="5941111111115")
    make_offer(other_account, "TAB-4", name="Tablou lampadar", part_number_key="DXX")


def _drf_search(term: str) -> set[int]:
    """What DRF's SearchFilter would match: each word in any of the four fields, any case."""
    fields = ["product__sku", "product__name", "product__ean_text", "part_number_key"]
    rows = Offer.objects.all()
    for word in term.split():
        condition = Q()
        for field in fields:
            condition |= Q(**{f"{field}__icontains": word})
        rows = rows.filter(condition)
    return set(rows.values_list("id", flat=True))


@pytest.mark.parametrize("term", ["lampa", "LAMPA", "lmp-", "0000000024", "dlampa", "lampa birou", "nothing", "a"])
def test_search_matches_what_drf_matched(api_client, viewer, searchable, term):
    body = bearer(api_client, viewer).get("/api/v1/emag/offers/", {"search": term, "page_size": 200}).json()
    assert {row["id"] for row in body["results"]} == _drf_search(term)
    assert body["count"] == len(body["results"])


def test_a_search_with_a_filter_counts_only_the_filtered_matches(api_client, viewer, searchable, account, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_COUNT_UP_TO", 1)  # counted in full, not only up to the limit
    body = bearer(api_client, viewer).get("/api/v1/emag/offers/", {"search": "lampa", "account": account.name}).json()

    expected = _drf_search("lampa") & set(Offer.objects.filter(account=account).values_list("id", flat=True))
    assert {row["id"] for row in body["results"]} == expected
    assert (body["count"], body["count_is_exact"]) == (len(expected), True) == (2, True)


def test_search_finds_a_name_a_pnk_and_an_ean(api_client, viewer, searchable):
    bearer(api_client, viewer)

    def skus(term: str) -> list[str]:
        body = api_client.get("/api/v1/emag/offers/", {"search": term, "ordering": "id"}).json()
        return [row["product"]["sku"] for row in body["results"]]

    assert skus("lampa") == ["LMP-1", "LMP-1", "CAN-2", "TAB-4"]  # names on both accounts, and a PNK
    assert skus("5941111111115") == ["FIE-3"]
    assert skus("lampa birou") == ["LMP-1", "LMP-1"]


def test_the_seed_compatible_total_says_when_it_is_not_exact(api_client, viewer, account, seven_offers, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_COUNT_UP_TO", 3)
    bearer(api_client, viewer)
    first = api_client.get("/api/v1/emag/enhanced/products/all?limit=2").json()
    assert (first["total"], first["total_is_exact"], first["total_count"]) == (7, True, 2)
    make_offer(account, "L-new")
    again = api_client.get("/api/v1/emag/enhanced/products/all?limit=2").json()
    assert (again["total"], again["total_is_exact"]) == (7, False)
    small = api_client.get("/api/v1/emag/enhanced/products/all?account_type=fbe").json()
    assert (small["total"], small["total_is_exact"]) == (0, True)
