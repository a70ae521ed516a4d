import re

import pytest

from emag.models import SellerAccount, SyncRun

CHANGELIST = "/admin/emag/selleraccount/"


def _action(client, action, *accounts):
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [a.pk for a in accounts], "index": 0}, follow=True
    )


def _messages(response):
    return [str(m) for m in response.context["messages"]]


def test_it_lists_kind_platform_active_last_sync_and_last_test(login, viewer, account):
    response = login(viewer).get(CHANGELIST)

    assert response.status_code == 200
    for header in ("Kind", "Platform", "Is active", "Last sync", "Last test"):
        assert header in response.text
    assert "Seller-fulfilled" in response.text and "Custom base URL" in response.text


def test_it_never_sends_the_password_back_not_even_masked(login, admin_user, account):
    response = login(admin_user).get(f"{CHANGELIST}{account.pk}/change/")

    assert response.status_code == 200
    assert "sandbox-main-secret" not in response.text
    assert account.password_encrypted not in response.text
    password_input = re.search(r'<input[^>]+name="password"[^>]*>', response.text).group(0)
    assert 'type="password"' in password_input and "value=" not in password_input


def test_an_admin_changes_the_password_and_an_empty_field_keeps_it(login, admin_user, account):
    client = login(admin_user)
    form = {
        "name": "main",
        "kind": "main",
        "platform": "custom",
        "base_url": account.base_url,
        "username": account.username,
        "is_active": "on",
        "sync_interval_minutes": 30,
    }

    client.post(f"{CHANGELIST}{account.pk}/change/", {**form, "password": "a-new-secret"})
    account.refresh_from_db()
    assert account.get_password() == "a-new-secret"
    assert account.sync_interval_minutes == 30

    response = client.post(f"{CHANGELIST}{account.pk}/change/", {**form, "password": ""})
    account.refresh_from_db()
    assert response.status_code == 302
    assert account.get_password() == "a-new-secret"


def test_a_new_account_needs_a_password_and_a_custom_platform_its_url(login, admin_user, db):
    response = login(admin_user).post(
        f"{CHANGELIST}add/",
        {
            "name": "ro2",
            "kind": "main",
            "platform": "custom",
            "base_url": "",
            "username": "u@example.com",
            "password": "",
            "sync_interval_minutes": 60,
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "password" in errors and "base_url" in errors
    assert not SellerAccount.objects.filter(name="ro2").exists()


def test_an_admin_adds_an_account_with_its_password_encrypted(login, admin_user, db):
    login(admin_user).post(
        f"{CHANGELIST}add/",
        {
            "name": "ro2",
            "kind": "fbe",
            "platform": "ro",
            "username": "u@example.com",
            "password": "s3cret",
            "is_active": "on",
            "sync_interval_minutes": 60,
        },
    )

    account = SellerAccount.objects.get(name="ro2")
    assert account.get_password() == "s3cret"
    assert "s3cret" not in account.password_encrypted


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_change_accounts(login, request, role, account):
    client = login(request.getfixturevalue(role))

    page = client.get(f"{CHANGELIST}{account.pk}/change/")
    response = client.post(
        f"{CHANGELIST}{account.pk}/change/",
        {"name": "hacked", "kind": "main", "platform": "ro", "username": "x", "sync_interval_minutes": 1},
    )

    assert page.status_code == 200
    assert 'name="password"' not in page.text
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.name == "main"
    assert client.get(f"{CHANGELIST}add/").status_code == 403


def test_an_operator_tests_the_connection(login, operator, account):
    response = _action(login(operator), "test_connection", account)

    account.refresh_from_db()
    assert account.last_test_ok is True and account.last_test_at is not None
    assert any(m.startswith("main: OK") for m in _messages(response))


def test_a_failed_connection_test_says_why(login, operator, account):
    account.set_password("wrong")
    account.save()

    response = _action(login(operator), "test_connection", account)

    account.refresh_from_db()
    assert account.last_test_ok is False
    assert any("Credentials refused" in m for m in _messages(response))


def test_an_operator_starts_a_sync_and_is_told_it_is_queued(login, operator, account, other_account):
    response = _action(login(operator), "sync_now", account, other_account)

    runs = SyncRun.objects.filter(trigger=SyncRun.Trigger.ADMIN)
    assert {run.account.name for run in runs} == {"main", "fbe"}
    assert all(run.status == SyncRun.Status.QUEUED for run in runs)
    assert sum("queued" in m for m in _messages(response)) == 2


def test_sync_now_refuses_politely_when_a_sync_is_already_running(login, operator, account):
    # Queued, not running: on PostgreSQL a "running" row whose process holds no lock is reaped as dead.
    running = SyncRun.objects.create(account=account, trigger=SyncRun.Trigger.SCHEDULE, status=SyncRun.Status.QUEUED)

    response = _action(login(operator), "sync_now", account)

    assert SyncRun.objects.filter(account=account).count() == 1
    assert any(f"already syncing (run #{running.pk}" in m for m in _messages(response))


def test_sync_now_skips_an_inactive_account(login, operator, account):
    account.is_active = False
    account.save()

    response = _action(login(operator), "sync_now", account)

    assert not SyncRun.objects.exists()
    assert any("inactive" in m for m in _messages(response))


def test_a_viewer_can_neither_test_nor_sync(login, viewer, account):
    client = login(viewer)

    page = client.get(CHANGELIST)
    _action(client, "sync_now", account)
    _action(client, "test_connection", account)

    assert "Sync now" not in page.text and "Test connection" not in page.text
    assert not SyncRun.objects.exists()
    account.refresh_from_db()
    assert account.last_test_at is None


def test_an_operator_sees_the_actions(login, operator, account):
    page = login(operator).get(CHANGELIST).text

    assert "Sync now" in page and "Test connection" in page


def test_the_form_says_a_password_is_stored_without_showing_it(login, admin_user, account):
    text = login(admin_user).get(f"{CHANGELIST}{account.pk}/change/").text

    assert "a password is stored and is never shown" in text
