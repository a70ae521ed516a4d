import socket

import pytest
import requests
from django.core.checks import run_checks
from django.test import override_settings

from tests.conftest import NetworkBlocked


def test_it_fails_any_http_call_a_test_did_not_register():
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get("https://marketplace-api.emag.ro/api-3/product_offer/read", timeout=1)


def test_it_refuses_raw_sockets_to_other_machines():
    with socket.socket() as sock, pytest.raises(NetworkBlocked):
        sock.connect(("203.0.113.7", 443))


@pytest.mark.django_db
@override_settings(DEBUG=False, SECRET_KEY="django-insecure-magflow-development-key-change-me")
def test_it_refuses_to_start_with_debug_off_and_the_default_secret_key():
    ids = {error.id for error in run_checks()}
    assert "magflow.E001" in ids


@pytest.mark.django_db
@override_settings(DEBUG=False, SECRET_KEY="a-real-secret-" + "x" * 40, MAGFLOW_ENCRYPTION_KEYS=[])
def test_it_refuses_to_start_with_debug_off_and_no_encryption_key():
    ids = {error.id for error in run_checks()}
    assert "magflow.E001" not in ids
    assert "magflow.E002" in ids


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_it_refuses_the_demo_admin_password_with_debug_off(django_user_model):
    django_user_model.objects.create_superuser(email="admin@example.com", password="secret")
    assert "magflow.E003" in {error.id for error in run_checks()}


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_it_allows_the_demo_admin_password_with_debug_on(django_user_model):
    django_user_model.objects.create_superuser(email="admin@example.com", password="secret")
    assert "magflow.E003" not in {error.id for error in run_checks()}


@pytest.mark.django_db
def test_it_creates_the_three_role_groups_with_their_permissions():
    from django.contrib.auth.models import Group

    groups = {group.name: set(group.permissions.values_list("codename", flat=True)) for group in Group.objects.all()}
    assert {"viewer", "operator", "admin"} <= set(groups)
    assert "view_offer" in groups["viewer"]
    assert "start_sync" not in groups["viewer"]
    assert "start_sync" in groups["operator"]
    assert "change_selleraccount" not in groups["operator"]
    assert "change_selleraccount" in groups["admin"]
