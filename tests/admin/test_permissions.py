"""Roles in the admin: viewers read everything of eMAG, operators also act, admins manage."""

import pytest
from django.utils import timezone

from emag.models import ApiCall, SyncError
from tests.admin.conftest import make_run

LISTS = [
    "/admin/emag/selleraccount/",
    "/admin/emag/offer/",
    "/admin/emag/product/",
    "/admin/emag/syncrun/",
    "/admin/emag/syncerror/",
    "/admin/emag/apicall/",
]


@pytest.fixture
def history(offers):
    account = offers["lamp"].account
    run = make_run(account, status="completed_with_rejections", rejected=1)
    SyncError.objects.create(run=run, page=2, index=7, emag_id=99, sku="BAD-1", reason_code="bad_price", message="no")
    ApiCall.objects.create(
        account=account,
        run=run,
        route="product_offer/read",
        bucket="other",
        status_code=200,
        outcome="ok",
        duration_ms=12.0,
        created_at=timezone.now(),
    )
    return run


@pytest.mark.parametrize("role", ["viewer", "operator", "admin_user"])
@pytest.mark.parametrize("url", LISTS)
def test_every_role_reads_every_list(login, request, history, role, url):
    response = login(request.getfixturevalue(role)).get(url)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 1


def test_the_sync_error_list_shows_the_reason_and_where(login, viewer, history):
    text = login(viewer).get("/admin/emag/syncerror/?reason_code=bad_price").text

    assert "BAD-1" in text and "bad_price" in text


def test_the_api_call_list_shows_route_and_outcome(login, viewer, history):
    text = login(viewer).get("/admin/emag/apicall/?outcome=ok").text

    assert "product_offer/read" in text


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_cannot_add_or_delete_accounts(login, request, role, account):
    client = login(request.getfixturevalue(role))

    assert client.get("/admin/emag/selleraccount/add/").status_code == 403
    assert client.post(f"/admin/emag/selleraccount/{account.pk}/delete/", {"post": "yes"}).status_code == 403


def test_an_admin_manages_accounts(login, admin_user, account):
    client = login(admin_user)

    assert client.get("/admin/emag/selleraccount/add/").status_code == 200
    assert client.get(f"/admin/emag/selleraccount/{account.pk}/change/").status_code == 200


def test_staff_without_a_role_see_no_emag_page(login, db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(email="nobody@example.com", password="x-Long-passw0rd", is_staff=True)
    client = login(user)

    assert all(client.get(url).status_code == 403 for url in LISTS)
