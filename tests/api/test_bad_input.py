"""Bad input gets a 4xx with a readable body, never a 500."""

import pytest

from tests.api.conftest import bearer

pytestmark = pytest.mark.django_db

BAD_QUERIES = [
    "/api/v1/emag/offers/?page=0",
    "/api/v1/emag/offers/?page=-1",
    "/api/v1/emag/offers/?page=abc",
    "/api/v1/emag/offers/?page_size=0",
    "/api/v1/emag/offers/?page_size=-5",
    "/api/v1/emag/offers/?ordering=nope,-password_encrypted",
    "/api/v1/emag/offers/?emag_id=99999999999999999999999999",
    "/api/v1/emag/offers/?stock_min=99999999999999999999999999",
    "/api/v1/emag/offers/?stock_max=-99999999999999999999999999",
    "/api/v1/emag/offers/?price_min=1e400",
    "/api/v1/emag/offers/?price_max=NaN",
    "/api/v1/emag/offers/?validation_status=1e30",
    "/api/v1/emag/offers/?changed_since=2024-13-45T99:99",
    "/api/v1/emag/offers/?search=%00",
    "/api/v1/emag/offers/?search=" + "x" * 5000,
    "/api/v1/emag/offers/?account=%27%3B--",
    "/api/v1/emag/offers/abc/",
    "/api/v1/emag/offers/99999999999999999999999/",
    "/api/v1/emag/products/?status=1&status=x",
    "/api/v1/emag/products/?stock_min=abc",
    "/api/v1/emag/products/?price_max=1e400",
    "/api/v1/emag/products/?changed_since=now",
    "/api/v1/emag/products/99999999999999999999999/",
    "/api/v1/emag/accounts/no-such-account/",
    "/api/v1/emag/accounts/bad%20name/",
    "/api/v1/emag/sync-runs/?status=exploded",
    "/api/v1/emag/sync-runs/?created_after=yesterday",
    "/api/v1/emag/sync-runs/99999999999999999999999/errors/",
    "/api/v1/emag/sync-runs/1/errors/?page=99",
    "/api/v1/emag/enhanced/products/all?limit=1e3",
    "/api/v1/emag/enhanced/products/all?include_inactive=perhaps",
    "/api/v1/emag/enhanced/offers/all?offset=99999999999999999999999",
    "/api/v1/emag/enhanced/offers/all?max_pages_per_account=0",
]


@pytest.mark.parametrize("url", BAD_QUERIES)
def test_a_bad_query_is_a_readable_4xx_or_an_empty_answer(api_client, admin_user, catalogue, url):
    response = bearer(api_client, admin_user).get(url)
    assert response.status_code < 500, response.content
    body = response.json()
    if response.status_code >= 400:
        assert set(body) == {"error"}
        assert body["error"]["code"]
        assert body["error"]["message"]


BAD_BODIES = [
    ("/api/v1/emag/sync-runs/", ["main"]),
    ("/api/v1/emag/sync-runs/", "main"),
    ("/api/v1/emag/sync-runs/", {"account": {"name": "main"}}),
    ("/api/v1/emag/sync-runs/", {"account": "main", "max_pages": 10**30}),
    ("/api/v1/emag/sync-runs/", {"account": "main", "max_pages": True}),
    ("/api/v1/emag/accounts/", {"name": "n" * 500, "username": "u", "password": "p"}),
    ("/api/v1/emag/accounts/", {"name": "ok", "username": "u", "password": "p", "sync_interval_minutes": 10**30}),
    ("/api/v1/emag/accounts/", {"name": "ok", "username": None, "password": None}),
    ("/api/v1/emag/accounts/", {"name": "ok", "username": "u", "password": "p", "platform": "custom", "base_url": "x"}),
    ("/api/v1/emag/enhanced/sync/all-products", {"max_pages_per_account": -1}),
    ("/api/v1/emag/enhanced/sync/all-products", {"delay_between_requests": "Infinity"}),
    ("/api/v1/auth/login", {"username": "a" * 300, "password": "p"}),
    ("/api/v1/auth/login", {"username": None, "password": None}),
    ("/api/v1/auth/refresh", {"refresh_token": None}),
    ("/api/v1/auth/refresh", {"refresh_token": "a.b.c"}),
    ("/api/v1/auth/logout", {"refresh_token": "a.b.c"}),
]


@pytest.mark.parametrize(("url", "body"), BAD_BODIES)
def test_a_bad_body_is_a_readable_4xx(api_client, admin_user, account, url, body):
    response = bearer(api_client, admin_user).post(url, body, format="json")
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["error"]["message"]
