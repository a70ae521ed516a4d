from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from emag.models import Offer, SellerAccount, SyncError, SyncRun
from tests.api.conftest import bearer, make_offer, make_run

pytestmark = pytest.mark.django_db


# --- Seller accounts ---------------------------------------------------------------------------------------------


def test_it_lists_accounts_by_name_and_never_shows_the_password(api_client, viewer, account, other_account):
    response = bearer(api_client, viewer).get("/api/v1/emag/accounts/")
    assert response.status_code == 200
    body = response.json()
    assert [item["name"] for item in body["results"]] == ["fbe", "main"]
    text = response.content.decode()
    assert "password_encrypted" not in text
    assert "sandbox-main-secret" not in text
    assert all("password" not in item and "username" not in item for item in body["results"])
    assert body["results"][1]["has_password"] is True
    assert api_client.get("/api/v1/emag/accounts/main/").json()["kind"] == "main"


def test_it_shows_the_api_username_to_admins_only(api_client, admin_user, account):
    body = bearer(api_client, admin_user).get("/api/v1/emag/accounts/main/").json()
    assert body["username"] == account.username
    assert "password" not in body


def test_admins_create_an_account_with_an_encrypted_write_only_password(api_client, admin_user, db):
    payload = {
        "name": "ro2",
        "kind": "fbe",
        "platform": "ro",
        "username": "seller@example.com",
        "password": "s3cret-value",
        "sync_interval_minutes": 30,
    }
    response = bearer(api_client, admin_user).post("/api/v1/emag/accounts/", payload, format="json")
    assert response.status_code == 201, response.json()
    assert "password" not in response.json()
    account = SellerAccount.objects.get(name="ro2")
    assert account.get_password() == "s3cret-value"
    assert "s3cret-value" not in account.password_encrypted


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "username": "u"}, "password"),
        ({"name": "bad name!", "username": "u", "password": "p"}, "name"),
        ({"name": "x", "username": "u", "password": "p", "platform": "custom"}, "base_url"),
        ({"name": "x", "username": "u", "password": "p", "platform": "custom", "base_url": "ftp://h/"}, "base_url"),
        ({"name": "x", "username": "u", "password": "p", "base_url": "https://h/"}, "base_url"),
        ({"name": "x", "username": "u", "password": "p", "kind": "other"}, "kind"),
        ({"name": "x", "username": "u", "password": "p", "sync_interval_minutes": 1}, "sync_interval_minutes"),
    ],
)
def test_it_refuses_a_bad_account_with_the_field_named(api_client, admin_user, payload, field):
    response = bearer(api_client, admin_user).post("/api/v1/emag/accounts/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    assert not SellerAccount.objects.filter(name="x").exists()


def test_it_refuses_a_duplicate_account_name(api_client, admin_user, account):
    payload = {"name": "main", "username": "u", "password": "p"}
    response = bearer(api_client, admin_user).post("/api/v1/emag/accounts/", payload, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["details"]


def test_admins_change_the_password_and_it_clears_an_auth_failure(api_client, admin_user, account):
    account.auth_failed_at = timezone.now()
    account.save()
    response = bearer(api_client, admin_user).patch(
        "/api/v1/emag/accounts/main/", {"password": "new-secret"}, format="json"
    )
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.get_password() == "new-secret"
    assert account.auth_failed_at is None


def test_an_account_cannot_be_renamed(api_client, admin_user, account):
    response = bearer(api_client, admin_user).patch("/api/v1/emag/accounts/main/", {"name": "other"}, format="json")
    assert response.status_code == 400
    assert SellerAccount.objects.filter(name="main").exists()


def test_admins_disable_and_enable_an_account(api_client, admin_user, account):
    bearer(api_client, admin_user)
    assert api_client.post("/api/v1/emag/accounts/main/disable/").json()["is_active"] is False
    assert SellerAccount.objects.get(name="main").is_active is False
    assert api_client.post("/api/v1/emag/accounts/main/enable/").json()["is_active"] is True


def test_operators_test_the_connection_against_the_sandbox(api_client, operator, account):
    response = bearer(api_client, operator).post("/api/v1/emag/accounts/main/test/")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["account"]["last_test_ok"] is True
    account.refresh_from_db()
    assert account.last_test_ok is True


def test_a_connection_test_with_wrong_credentials_says_so(api_client, operator, account):
    account.set_password("wrong")
    account.save()
    body = bearer(api_client, operator).post("/api/v1/emag/accounts/main/test/").json()
    assert body["ok"] is False
    assert "refused" in body["message"].lower()
    assert "wrong" not in body["message"]


def test_operators_may_not_change_accounts(api_client, operator, account):
    response = bearer(api_client, operator).patch("/api/v1/emag/accounts/main/", {"is_active": False}, format="json")
    assert response.status_code == 403
    assert "emag.change_selleraccount" in response.json()["error"]["message"]
    assert SellerAccount.objects.get(name="main").is_active is True


def test_accounts_are_never_deleted_through_the_api(api_client, admin_user, account):
    assert bearer(api_client, admin_user).delete("/api/v1/emag/accounts/main/").status_code == 405


# --- Offers -------------------------------------------------------------------------------------------------------


def _skus(response):
    assert response.status_code == 200, response.json()
    return [(item["account"], item["product"]["sku"]) for item in response.json()["results"]]


def test_it_lists_offers_with_a_product_summary(api_client, viewer, catalogue):
    response = bearer(api_client, viewer).get("/api/v1/emag/offers/")
    body = response.json()
    assert body["count"] == 4
    first = body["results"][0]  # by account, then eMAG id
    assert first["account"] == "main"
    assert first["product"]["sku"] == "SKU-A"
    assert first["product"]["name"] == "Red kettle"
    assert first["sale_price"] == "99.9000"
    assert "raw" not in first


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("account=main", [("main", "SKU-A"), ("main", "SKU-B")]),
        ("status=0", [("main", "SKU-B")]),
        ("sellable=false", [("main", "SKU-B")]),
        ("stock_min=5&stock_max=10", [("fbe", "SKU-A")]),
        ("price_min=100&price_max=300", [("fbe", "SKU-A"), ("fbe", "SKU-C")]),
        ("search=kettle", [("main", "SKU-A"), ("fbe", "SKU-A")]),
        ("search=5941234567890", [("main", "SKU-A"), ("fbe", "SKU-A")]),
        ("search=DX7K2BBM", [("fbe", "SKU-C")]),
        ("search=sku-b", [("main", "SKU-B")]),
        ("ordering=-sale_price", [("fbe", "SKU-C"), ("fbe", "SKU-A"), ("main", "SKU-A"), ("main", "SKU-B")]),
        ("sku=SKU-C", [("fbe", "SKU-C")]),
    ],
)
def test_it_filters_searches_and_orders_offers(api_client, viewer, catalogue, query, expected):
    assert _skus(bearer(api_client, viewer).get(f"/api/v1/emag/offers/?{query}")) == expected


def test_it_filters_offers_changed_since(api_client, viewer, catalogue):
    old = timezone.now() - timedelta(days=3)
    Offer.objects.exclude(pk=catalogue[3].pk).update(last_changed_at=old)
    since = (timezone.now() - timedelta(days=1)).isoformat()
    response = bearer(api_client, viewer).get("/api/v1/emag/offers/", {"changed_since": since})
    assert _skus(response) == [("fbe", "SKU-C")]


@pytest.mark.parametrize("query", ["status=7", "stock_min=lots", "changed_since=yesterday", "sellable=perhaps"])
def test_it_answers_400_for_a_bad_filter_value(api_client, viewer, catalogue, query):
    response = bearer(api_client, viewer).get(f"/api/v1/emag/offers/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert response.json()["error"]["details"]


def test_it_pages_offers_up_to_200_per_page(api_client, viewer, account):
    for number in range(205):
        make_offer(account, f"P-{number:03}")
    bearer(api_client, viewer)
    body = api_client.get("/api/v1/emag/offers/?page_size=500").json()
    assert body["count"] == 205
    assert len(body["results"]) == 200
    assert body["next"]
    assert len(api_client.get("/api/v1/emag/offers/?page_size=200&page=2").json()["results"]) == 5
    past_the_end = api_client.get("/api/v1/emag/offers/?page=9")
    assert past_the_end.status_code == 404
    assert past_the_end.json()["error"]["code"] == "not_found"


def test_an_offer_detail_has_its_stock_per_warehouse_and_raw_record(api_client, viewer, account):
    offer = make_offer(account, "SKU-D", stock=[{"warehouse_id": 1, "value": 4}][0]["value"])
    Offer.objects.filter(pk=offer.pk).update(stock=[{"warehouse_id": 1, "value": 4}], raw={"id": offer.emag_id})
    body = bearer(api_client, viewer).get(f"/api/v1/emag/offers/{offer.pk}/").json()
    assert body["stock"] == [{"warehouse_id": 1, "value": 4}]
    assert body["raw"] == {"id": offer.emag_id}
    assert api_client.get("/api/v1/emag/offers/999999/").status_code == 404


# --- Products -----------------------------------------------------------------------------------------------------


def test_it_lists_products_with_their_offers_on_every_account(api_client, viewer, catalogue):
    body = bearer(api_client, viewer).get("/api/v1/emag/products/").json()
    assert [item["sku"] for item in body["results"]] == ["SKU-A", "SKU-B", "SKU-C"]
    kettle = body["results"][0]
    assert [offer["account"] for offer in kettle["offers"]] == ["fbe", "main"]
    assert kettle["eans"] == ["5941234567890"]


def test_product_filters_hold_for_one_and_the_same_offer(api_client, viewer, catalogue):
    bearer(api_client, viewer)
    # SKU-A has a main offer with stock 3 and an fbe offer with stock 7: no single offer is main AND >= 5.
    response = api_client.get("/api/v1/emag/products/?account=main&stock_min=5")
    assert [item["sku"] for item in response.json()["results"]] == []
    response = api_client.get("/api/v1/emag/products/?account=fbe&stock_min=5")
    assert [item["sku"] for item in response.json()["results"]] == ["SKU-A", "SKU-C"]
    response = api_client.get("/api/v1/emag/products/?search=teapot")
    assert [item["sku"] for item in response.json()["results"]] == ["SKU-C"]
    response = api_client.get("/api/v1/emag/products/?status=0&sellable=false")
    assert [item["sku"] for item in response.json()["results"]] == ["SKU-B"]


def test_the_offers_and_products_searches_read_the_product_search_table(api_client, viewer, catalogue):
    bearer(api_client, viewer)
    for path in ("/api/v1/emag/offers/", "/api/v1/emag/products/"):
        with CaptureQueriesContext(connection) as captured:
            body = api_client.get(path, {"search": "teapot"}).json()

        assert body["count"] == 1, path  # SKU-C, the green teapot, only on FBE
        # Not DRF's own LIKE over every row (selectors.search_offers, selectors.search_products).
        assert any("emag_productsearch" in query["sql"] for query in captured.captured_queries), path


def test_a_product_detail_lists_its_offers(api_client, viewer, catalogue):
    product = catalogue[0].product
    body = bearer(api_client, viewer).get(f"/api/v1/emag/products/{product.pk}/").json()
    assert body["sku"] == "SKU-A"
    assert {offer["account"] for offer in body["offers"]} == {"main", "fbe"}
    assert "description" in body


# --- Sync runs ----------------------------------------------------------------------------------------------------


def test_operators_start_one_accounts_sync_and_get_202_with_the_queued_run(api_client, operator, account):
    response = bearer(api_client, operator).post(
        "/api/v1/emag/sync-runs/", {"account": "main", "max_pages": 2}, format="json"
    )
    assert response.status_code == 202, response.json()
    runs = response.json()["runs"]
    assert len(runs) == 1
    run = SyncRun.objects.get(pk=runs[0]["id"])
    assert run.status == SyncRun.Status.QUEUED
    assert run.trigger == SyncRun.Trigger.API
    assert run.parameters == {"max_pages": 2}


def test_starting_a_sync_queues_a_task_with_the_run_id_only(
    api_client, operator, account, django_capture_on_commit_callbacks
):
    from django_q.models import OrmQ

    with django_capture_on_commit_callbacks(execute=True):
        response = bearer(api_client, operator).post("/api/v1/emag/sync-runs/", {"account": "main"}, format="json")
    assert response.status_code == 202
    task = OrmQ.objects.get()
    assert task.task["func"] == "emag.tasks.run_sync"
    assert task.task["args"] == (response.json()["runs"][0]["id"],)


def test_it_answers_409_with_the_running_run_when_one_is_going(api_client, operator, account):
    # Queued, not running: on PostgreSQL a running row whose advisory lock nobody holds is reaped as dead.
    running = make_run(account, status="queued", started_at=None)
    response = bearer(api_client, operator).post("/api/v1/emag/sync-runs/", {"account": "main"}, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "sync_already_running"
    assert error["details"]["runs"][0]["id"] == running.pk
    assert SyncRun.objects.count() == 1


def test_it_starts_every_active_account_without_an_account(api_client, operator, account, other_account):
    SellerAccount.objects.create(name="off", username="u", is_active=False)
    running = make_run(other_account, status="queued", started_at=None)
    response = bearer(api_client, operator).post("/api/v1/emag/sync-runs/", {}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert [run["account"] for run in body["runs"]] == ["main"]
    assert [run["id"] for run in body["already_running"]] == [running.pk]
    second = api_client.post("/api/v1/emag/sync-runs/", {}, format="json")
    assert second.status_code == 409


@pytest.mark.parametrize(
    "payload", [{"account": "nope"}, {"account": "main", "max_pages": 0}, {"account": "main", "max_pages": "x"}]
)
def test_it_refuses_a_bad_sync_request_and_starts_nothing(api_client, operator, account, payload):
    response = bearer(api_client, operator).post("/api/v1/emag/sync-runs/", payload, format="json")
    assert response.status_code == 400
    assert SyncRun.objects.count() == 0


def test_it_refuses_to_sync_a_disabled_account(api_client, operator, account):
    account.is_active = False
    account.save()
    response = bearer(api_client, operator).post("/api/v1/emag/sync-runs/", {"account": "main"}, format="json")
    assert response.status_code == 400
    assert "disabled" in str(response.json()["error"]["details"])


def test_viewers_may_not_start_syncs(api_client, viewer, account):
    response = bearer(api_client, viewer).post("/api/v1/emag/sync-runs/", {"account": "main"}, format="json")
    assert response.status_code == 403
    assert SyncRun.objects.count() == 0


def test_operators_cancel_a_queued_run_and_a_finished_one_is_a_conflict(api_client, operator, account):
    queued = make_run(account, status="queued", started_at=None)
    response = bearer(api_client, operator).post(f"/api/v1/emag/sync-runs/{queued.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = api_client.post(f"/api/v1/emag/sync-runs/{queued.pk}/cancel/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "sync_not_active"


def test_cancelling_a_running_run_asks_it_to_stop(api_client, operator, account):
    running = make_run(account, status="running")
    response = bearer(api_client, operator).post(f"/api/v1/emag/sync-runs/{running.pk}/cancel/")
    assert response.status_code == 202
    running.refresh_from_db()
    assert running.cancel_requested is True


def test_it_lists_and_filters_sync_runs(api_client, viewer, account, other_account):
    make_run(account, status="completed")
    failed = make_run(other_account, status="failed", error_code="auth")
    bearer(api_client, viewer)
    body = api_client.get("/api/v1/emag/sync-runs/?account=fbe").json()
    assert [run["id"] for run in body["results"]] == [failed.pk]
    body = api_client.get("/api/v1/emag/sync-runs/?status=failed&status=completed").json()
    assert body["count"] == 2
    detail = api_client.get(f"/api/v1/emag/sync-runs/{failed.pk}/").json()
    assert detail["error_code"] == "auth"
    assert detail["fetched"] == 10


def test_it_pages_a_runs_rejected_records(api_client, viewer, account):
    run = make_run(account, rejected=3)
    other = make_run(account, status="failed")
    for index in range(3):
        SyncError.objects.create(run=run, page=1, index=index, reason_code="bad_price", message="Price is not a number")
    SyncError.objects.create(run=other, page=1, index=0, reason_code="x", message="other run")
    bearer(api_client, viewer)
    body = api_client.get(f"/api/v1/emag/sync-runs/{run.pk}/errors/?page_size=2").json()
    assert body["count"] == 3
    assert [error["index"] for error in body["results"]] == [0, 1]
    assert api_client.get(f"/api/v1/emag/sync-runs/{run.pk}/errors/?reason_code=x").json()["count"] == 0
    assert api_client.get("/api/v1/emag/sync-runs/999999/errors/").status_code == 404


# --- Errors -------------------------------------------------------------------------------------------------------


def test_an_unknown_api_path_answers_404_in_the_error_shape(api_client, viewer):
    response = bearer(api_client, viewer).get("/api/v1/emag/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_wrong_method_answers_405_in_the_error_shape(api_client, viewer, catalogue):
    response = bearer(api_client, viewer).delete("/api/v1/emag/offers/")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_form_body_answers_415_in_the_error_shape(api_client, admin_user):
    response = bearer(api_client, admin_user).post("/api/v1/emag/accounts/", {"name": "x"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_a_crash_in_an_api_view_answers_500_in_the_error_shape(api_client, viewer, monkeypatch):
    from django.test import Client

    from emag import selectors

    def explode():
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "account_list", explode)
    client = Client(raise_request_exception=False)
    token = bearer(api_client, viewer)._credentials["HTTP_AUTHORIZATION"]
    response = client.get("/api/v1/emag/accounts/", HTTP_AUTHORIZATION=token)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert "boom" not in response.content.decode()


def test_throttling_answers_429_with_the_wait(api_client, viewer, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {**UserRateThrottle.THROTTLE_RATES, "user": "2/min"})
    bearer(api_client, viewer)
    responses = [api_client.get("/api/v1/auth/me") for _ in range(3)]
    assert [response.status_code for response in responses] == [200, 200, 429]
    error = responses[2].json()["error"]
    assert error["code"] == "throttled"
    assert 0 < error["details"]["wait_seconds"] <= 60


def test_a_user_without_a_role_may_only_see_who_they_are(api_client, django_user_model, catalogue):
    nobody = django_user_model.objects.create_user(email="norole@example.com", password="x")
    bearer(api_client, nobody)
    me = api_client.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["role"] is None
    for url in ("/api/v1/emag/offers/", "/api/v1/emag/accounts/", "/api/v1/emag/enhanced/status"):
        response = api_client.get(url)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


def test_roles_are_read_live_not_from_the_token(api_client, viewer, catalogue):
    from django.contrib.auth.models import Group

    bearer(api_client, viewer)
    assert api_client.get("/api/v1/emag/offers/").status_code == 200
    viewer.groups.remove(Group.objects.get(name="viewer"))
    assert api_client.get("/api/v1/emag/offers/").status_code == 403


def test_account_changes_keep_the_sync_schedules_in_step(api_client, admin_user, db):
    from django_q.models import Schedule

    bearer(api_client, admin_user)
    payload = {
        "name": "ro3",
        "platform": "ro",
        "username": "u@example.com",
        "password": "p",
        "sync_interval_minutes": 30,
    }
    assert api_client.post("/api/v1/emag/accounts/", payload, format="json").status_code == 201
    account = SellerAccount.objects.get(name="ro3")
    schedule = Schedule.objects.get(name=f"magflow:sync-offers:{account.pk}")
    assert schedule.minutes == 30
    api_client.patch("/api/v1/emag/accounts/ro3/", {"sync_interval_minutes": 120}, format="json")
    assert Schedule.objects.get(name=f"magflow:sync-offers:{account.pk}").minutes == 120
    api_client.post("/api/v1/emag/accounts/ro3/disable/")
    assert not Schedule.objects.filter(name=f"magflow:sync-offers:{account.pk}").exists()
    api_client.post("/api/v1/emag/accounts/ro3/enable/")
    assert Schedule.objects.filter(name=f"magflow:sync-offers:{account.pk}").exists()
