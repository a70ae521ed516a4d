"""The endpoints the clients of the system we replace call: same paths, same keys."""

from datetime import timedelta

import pytest
from django.utils import timezone

from emag.models import SyncRun
from tests.api.conftest import bearer, make_offer, make_run

pytestmark = pytest.mark.django_db


def test_products_all_answers_the_old_keys_for_both_accounts(api_client, viewer, catalogue):
    response = bearer(api_client, viewer).get("/api/v1/emag/enhanced/products/all?account_type=both&limit=100")
    assert response.status_code == 200
    body = response.json()
    assert {"products", "total", "total_count", "account_type", "timestamp"} <= set(body)
    # Inactive offers are left out unless asked for, as before.
    assert body["total"] == 3
    assert {(row["account_type"], row["sku"]) for row in body["products"]} == {
        ("main", "SKU-A"),
        ("fbe", "SKU-A"),
        ("fbe", "SKU-C"),
    }
    row = next(row for row in body["products"] if row["account_type"] == "main")
    for key in ("account_type", "sku", "name", "price", "stock", "status", "last_synced_at", "currency", "is_active"):
        assert key in row
    assert row["price"] == 99.9
    assert row["stock"] == 3
    assert row["status"] == "active"
    assert row["name"] == "Red kettle"
    assert row["last_synced_at"]


def test_products_all_filters_by_account_type_limits_and_includes_inactive(api_client, viewer, catalogue):
    bearer(api_client, viewer)
    body = api_client.get("/api/v1/emag/enhanced/products/all?account_type=main&include_inactive=true").json()
    assert body["total"] == 2
    assert {row["status"] for row in body["products"]} == {"active", "inactive"}
    body = api_client.get("/api/v1/emag/enhanced/products/all?account_type=fbe&limit=1").json()
    assert body["total"] == 2
    assert len(body["products"]) == 1
    assert body["total_count"] == 1
    rest = api_client.get("/api/v1/emag/enhanced/products/all?account_type=fbe&limit=1&offset=1").json()
    assert rest["products"][0]["id"] != body["products"][0]["id"]


@pytest.mark.parametrize("query", ["account_type=other", "limit=0", "limit=abc", "limit=999999", "offset=-1"])
def test_products_all_refuses_bad_parameters_with_400(api_client, viewer, query):
    response = bearer(api_client, viewer).get(f"/api/v1/emag/enhanced/products/all?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_last_synced_at_is_the_accounts_last_full_sync_for_an_unchanged_offer(api_client, viewer, account):
    offer = make_offer(account, "SKU-Z", last_seen_at=timezone.now() - timedelta(days=2))
    full = timezone.now() - timedelta(hours=1)
    account.last_full_sync_at = full
    account.save()
    row = bearer(api_client, viewer).get("/api/v1/emag/enhanced/products/all").json()["products"][0]
    assert row["id"] == offer.pk
    assert row["last_synced_at"].startswith(timezone.localtime(full).isoformat()[:19])


def test_offers_all_answers_offers_and_total(api_client, viewer, catalogue):
    body = bearer(api_client, viewer).get("/api/v1/emag/enhanced/offers/all?account_type=fbe").json()
    assert body["total"] == 2
    assert {row["sku"] for row in body["offers"]} == {"SKU-A", "SKU-C"}
    assert {"price", "stock", "status", "account_type", "last_synced_at"} <= set(body["offers"][0])


def test_status_answers_sync_statistics_and_accounts(api_client, viewer, catalogue, account, other_account):
    for status in ("completed", "completed", "failed", "completed_with_rejections", "cancelled"):
        make_run(account, status=status)
    make_run(other_account, status="partial")
    body = bearer(api_client, viewer).get("/api/v1/emag/enhanced/status").json()
    stats = body["sync_statistics"]
    assert stats["total_syncs"] == 6
    assert stats["successful_syncs"] == 3
    assert stats["failed_syncs"] == 2
    assert stats["success_rate"] == 60.0
    assert set(body["accounts"]) == {"main", "fbe"}
    main = body["accounts"]["main"]
    assert main["account_type"] == "main"
    assert main["products"]["total"] == 2
    assert main["products"]["active"] == 1
    assert main["sync_statistics"]["total_syncs"] == 5
    assert main["last_sync"]["status"] == "cancelled"
    assert body["accounts"]["fbe"]["sync_statistics"]["success_rate"] == 0.0
    assert body["summary"]["total_products"] == 4
    assert len(body["recent_syncs"]) == 6
    assert "username" not in str(body["accounts"])


def test_status_with_no_runs_reports_a_full_success_rate(api_client, viewer, account):
    body = bearer(api_client, viewer).get("/api/v1/emag/enhanced/status").json()
    assert body["sync_statistics"]["total_syncs"] == 0
    assert body["sync_statistics"]["success_rate"] == 100.0
    assert body["accounts"]["main"]["sync_statistics"]["total_syncs"] == 0


def test_sync_all_products_queues_both_accounts_in_the_background(api_client, operator, account, other_account):
    payload = {"max_pages_per_account": 50, "delay_between_requests": 1.0, "include_inactive": False}
    response = bearer(api_client, operator).post("/api/v1/emag/enhanced/sync/all-products", payload, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "accepted"
    assert body["main_account"]["account"] == "main"
    assert body["fbe_account"]["account"] == "fbe"
    runs = SyncRun.objects.order_by("account__name")
    assert [(run.account.name, run.status, run.parameters) for run in runs] == [
        ("fbe", "queued", {"max_pages": 50}),
        ("main", "queued", {"max_pages": 50}),
    ]
    again = api_client.post("/api/v1/emag/enhanced/sync/all-products", payload, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "sync_already_running"


@pytest.mark.parametrize(
    "payload", [{"max_pages_per_account": 0}, {"delay_between_requests": "slow"}, {"include_inactive": "maybe"}]
)
def test_sync_all_products_refuses_bad_input_and_starts_nothing(api_client, operator, account, payload):
    response = bearer(api_client, operator).post("/api/v1/emag/enhanced/sync/all-products", payload, format="json")
    assert response.status_code == 400
    assert SyncRun.objects.count() == 0


def test_viewers_may_read_but_not_start_syncs(api_client, viewer, account):
    bearer(api_client, viewer)
    assert api_client.get("/api/v1/emag/enhanced/status").status_code == 200
    assert api_client.post("/api/v1/emag/enhanced/sync/all-products", {}, format="json").status_code == 403
    assert SyncRun.objects.count() == 0
