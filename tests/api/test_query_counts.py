"""List endpoints run the same number of SQL queries for a page of 5 rows and a page of 100."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from emag.models import SyncError
from tests.api.conftest import bearer, make_offer, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_rows(account, other_account):
    for number in range(110):
        sku = f"Q-{number:03}"
        make_offer(account, sku, ean=f"59{number:011}")
        make_offer(other_account, sku, status=number % 2)
    run = make_run(account, status="completed_with_rejections", rejected=110)
    SyncError.objects.bulk_create(
        SyncError(run=run, page=1 + index // 100, index=index % 100, reason_code="bad_ean", message="EAN not valid")
        for index in range(110)
    )
    for _ in range(110):
        make_run(other_account, status="completed")
    return run


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


@pytest.mark.parametrize(
    ("url", "small", "large"),
    [
        ("/api/v1/emag/offers/?", "page_size=5", "page_size=100"),
        ("/api/v1/emag/offers/?search=Q-0&ordering=-sale_price&", "page_size=5", "page_size=100"),
        ("/api/v1/emag/products/?", "page_size=5", "page_size=100"),
        ("/api/v1/emag/products/?account=fbe&status=1&", "page_size=5", "page_size=100"),
        ("/api/v1/emag/sync-runs/?", "page_size=5", "page_size=100"),
        ("/api/v1/emag/sync-runs/{run}/errors/?", "page_size=5", "page_size=100"),
        ("/api/v1/emag/accounts/?", "page_size=1", "page_size=100"),
        ("/api/v1/emag/enhanced/products/all?include_inactive=true&", "limit=5", "limit=100"),
        ("/api/v1/emag/enhanced/offers/all?", "limit=5", "limit=100"),
    ],
)
def test_a_list_costs_the_same_queries_whatever_the_page_size(api_client, viewer, many_rows, url, small, large):
    bearer(api_client, viewer)
    url = url.replace("{run}", str(many_rows.pk))
    _queries(api_client, url + small)  # warm up per-process caches (content types, permissions)
    assert _queries(api_client, url + small) == _queries(api_client, url + large)


def test_the_status_costs_the_same_queries_whatever_the_number_of_runs_and_offers(
    api_client, viewer, account, other_account
):
    bearer(api_client, viewer)
    make_run(account)
    make_offer(account, "S-1")
    _queries(api_client, "/api/v1/emag/enhanced/status")
    few = _queries(api_client, "/api/v1/emag/enhanced/status")
    for number in range(30):
        make_run(other_account)
        make_offer(other_account, f"S-{number + 2}")
    assert _queries(api_client, "/api/v1/emag/enhanced/status") == few


def test_a_page_of_200_offers_stays_under_ten_queries(api_client, viewer, many_rows, django_assert_max_num_queries):
    bearer(api_client, viewer)
    with django_assert_max_num_queries(10):
        response = api_client.get("/api/v1/emag/offers/?page_size=200")
    assert len(response.json()["results"]) == 200
