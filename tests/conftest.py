"""Test-wide fixtures. The network is blocked for the whole run.

Two guards: every `requests` call goes through a `responses` mock that fails on
any URL a test did not register, and a socket guard refuses any connection that
is not to this machine (loopback or a Unix socket), whatever library makes it.
"""

import ipaddress
import socket

import pytest
import responses

SANDBOX_BASE_URL = "https://sandbox.emag.test/api-3"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


class NetworkBlocked(RuntimeError):
    """A test tried to reach a host other than this machine."""


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # a Unix socket path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self, address):
    if not _is_local(address):
        raise NetworkBlocked(f"Tests may not reach the network (tried {address!r}).")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_local(address):
        raise NetworkBlocked(f"Tests may not reach the network (tried {address!r}).")
    return _real_connect_ex(self, address)


def pytest_configure(config):
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex


@pytest.fixture(autouse=True)
def mocked_responses():
    """Every `requests` call in a test must hit a URL the test registered (or the sandbox)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sandbox(mocked_responses):
    """The eMAG sandbox with two accounts (main, fbe) of 250 offers, answering at SANDBOX_BASE_URL."""
    from emag.sandbox import Sandbox

    sb = Sandbox(seed=1, offers=250)
    sb.install(mocked_responses, SANDBOX_BASE_URL)
    return sb


def _seller_account(name, kind, username, password):
    from emag.models import SellerAccount

    account = SellerAccount(
        name=name, kind=kind, platform=SellerAccount.Platform.CUSTOM, base_url=SANDBOX_BASE_URL, username=username
    )
    account.set_password(password)
    account.save()
    return account


@pytest.fixture
def account(db, sandbox):
    """The seller-fulfilled account, pointing at the sandbox with good credentials."""
    username, password = sandbox.credentials("main")
    return _seller_account("main", "main", username, password)


@pytest.fixture
def other_account(db, sandbox):
    """The FBE account, pointing at the sandbox with good credentials."""
    username, password = sandbox.credentials("fbe")
    return _seller_account("fbe", "fbe", username, password)


def _user_with_role(role, email):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(email=email, password="a-Long-test-passw0rd", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def viewer(db):
    return _user_with_role("viewer", "viewer@example.com")


@pytest.fixture
def operator(db):
    return _user_with_role("operator", "operator@example.com")


@pytest.fixture
def admin_user(db):
    return _user_with_role("admin", "admin-role@example.com")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
