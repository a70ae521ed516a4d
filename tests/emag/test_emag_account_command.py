"""manage.py emag_account: add, set-password, list, test, disable, enable."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from emag.models import SellerAccount

PASSWORD = "From-Stdin-Secret-9"


def run(*args, stdin=None):
    out = io.StringIO()
    call_command("emag_account", *args, stdout=out, stderr=io.StringIO(), stdin=stdin or io.StringIO(""))
    return out.getvalue()


def test_it_adds_an_account_with_the_password_from_stdin(db, monkeypatch):
    monkeypatch.delenv("EMAG_PASSWORD", raising=False)

    output = run(
        "add",
        "main",
        "--username",
        "me@example.com",
        "--kind",
        "main",
        "--platform",
        "ro",
        stdin=io.StringIO(PASSWORD + "\n"),
    )

    account = SellerAccount.objects.get(name="main")
    assert (account.kind, account.platform, account.username) == ("main", "ro", "me@example.com")
    assert account.api_base_url == "https://marketplace-api.emag.ro/api-3"
    assert account.get_password() == PASSWORD
    assert account.is_active
    assert PASSWORD not in output
    with connection.cursor() as cursor:
        cursor.execute("SELECT password_encrypted FROM emag_selleraccount WHERE name = 'main'")
        assert PASSWORD not in cursor.fetchone()[0]


def test_it_takes_the_password_from_the_environment_and_a_custom_base_url(db, monkeypatch):
    monkeypatch.setenv("EMAG_PASSWORD", "env-Secret")

    run("add", "fbe", "--username", "fbe@example.com", "--kind", "fbe", "--base-url", "http://127.0.0.1:8001/api-3/")

    account = SellerAccount.objects.get(name="fbe")
    assert (account.platform, account.api_base_url) == ("custom", "http://127.0.0.1:8001/api-3")
    assert account.get_password() == "env-Secret"


def test_it_has_no_password_argument(db, monkeypatch):
    monkeypatch.setenv("EMAG_PASSWORD", "x")
    with pytest.raises(CommandError):
        run("add", "main", "--username", "u@example.com", "--kind", "main", "--platform", "ro", "--password", "x")


@pytest.mark.parametrize(
    "args",
    [
        ["--platform", "ro", "--base-url", "http://x.test/api-3"],  # both
        [],  # neither
        ["--platform", "mars"],
        ["--base-url", "ftp://example.com/api-3"],
    ],
)
def test_it_refuses_a_bad_place_and_saves_nothing(db, monkeypatch, args):
    monkeypatch.setenv("EMAG_PASSWORD", "x")
    with pytest.raises(CommandError):
        run("add", "main", "--username", "u@example.com", "--kind", "main", *args)
    assert not SellerAccount.objects.exists()


def test_it_refuses_an_empty_password_and_a_duplicate_name(db, monkeypatch):
    monkeypatch.delenv("EMAG_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="No password"):
        run("add", "main", "--username", "u@example.com", "--kind", "main", "--platform", "ro", stdin=io.StringIO("\n"))
    assert not SellerAccount.objects.exists()

    monkeypatch.setenv("EMAG_PASSWORD", "first")
    run("add", "main", "--username", "u@example.com", "--kind", "main", "--platform", "ro")
    monkeypatch.setenv("EMAG_PASSWORD", "second")
    with pytest.raises(CommandError, match="already exists"):
        run("add", "main", "--username", "other@example.com", "--kind", "main", "--platform", "bg")
    account = SellerAccount.objects.get()
    assert (account.username, account.get_password()) == ("u@example.com", "first")


def test_it_replaces_a_password_and_clears_the_refusal_flag(db, monkeypatch):
    monkeypatch.setenv("EMAG_PASSWORD", "old")
    run("add", "main", "--username", "u@example.com", "--kind", "main", "--platform", "ro")
    SellerAccount.objects.update(auth_failed_at="2026-01-01T00:00:00Z")
    monkeypatch.delenv("EMAG_PASSWORD")

    run("set-password", "main", stdin=io.StringIO("new-one\n"))

    account = SellerAccount.objects.get()
    assert account.get_password() == "new-one"
    assert account.auth_failed_at is None


def test_it_lists_accounts_without_their_passwords(db, monkeypatch):
    monkeypatch.setenv("EMAG_PASSWORD", PASSWORD)
    run("add", "main", "--username", "main@example.com", "--kind", "main", "--platform", "ro")
    run("add", "fbe", "--username", "fbe@example.com", "--kind", "fbe", "--platform", "bg")

    output = run("list")

    lines = output.splitlines()
    assert lines[0].split()[:3] == ["NAME", "KIND", "ACTIVE"]
    assert "fbe@example.com" in lines[1] and "emag.bg" in lines[1] and "never" in lines[1]
    assert "main@example.com" in lines[2] and "set" in lines[2]
    assert PASSWORD not in output
    for account in SellerAccount.objects.all():
        assert account.password_encrypted not in output


def test_it_disables_and_enables_an_account(db, monkeypatch):
    monkeypatch.setenv("EMAG_PASSWORD", "x")
    run("add", "main", "--username", "u@example.com", "--kind", "main", "--platform", "ro")

    run("disable", "main")
    assert SellerAccount.objects.get().is_active is False
    run("enable", "main")
    assert SellerAccount.objects.get().is_active is True
    with pytest.raises(CommandError, match="No eMAG account named 'nope'"):
        run("disable", "nope")


# --- emag_account test, against the sandbox served over HTTP ---------------------------------------------------


@pytest.fixture
def http_sandbox(mocked_responses, settings):
    from emag.sandbox import Sandbox

    settings.EMAG_RATE_LIMIT_ENABLED = False
    mocked_responses.add_passthru("http://127.0.0.1")
    sandbox = Sandbox(seed=5, offers=10)
    server = sandbox.serve(host="127.0.0.1", port=0)
    yield sandbox, f"http://127.0.0.1:{server.server_address[1]}/api-3"
    server.stop()


def add_sandbox_account(monkeypatch, base_url, username, password):
    monkeypatch.setenv("EMAG_PASSWORD", password)
    run("add", "main", "--username", username, "--kind", "main", "--base-url", base_url)


def test_it_tests_good_credentials_against_the_running_sandbox(db, http_sandbox, monkeypatch):
    sandbox, base_url = http_sandbox
    add_sandbox_account(monkeypatch, base_url, *sandbox.credentials("main"))

    output = run("test", "main")

    assert "OK: credentials accepted, IP address allowed" in output
    assert [(e.route, e.status) for e in sandbox.request_log] == [("vat/read", 200)]
    account = SellerAccount.objects.get()
    assert account.last_test_ok is True and account.last_test_at is not None


def test_it_says_clearly_that_the_password_is_wrong(db, http_sandbox, monkeypatch):
    sandbox, base_url = http_sandbox
    username, _ = sandbox.credentials("main")
    add_sandbox_account(monkeypatch, base_url, username, "wrong-password")

    with pytest.raises(CommandError) as caught:
        run("test", "main")

    assert "Credentials refused by eMAG (HTTP 403): check the API username and password" in str(caught.value)
    assert "wrong-password" not in str(caught.value)
    account = SellerAccount.objects.get()
    assert account.last_test_ok is False
    assert account.auth_failed_at is not None
    assert len(sandbox.request_log) == 1  # refused credentials are never retried


def test_it_says_clearly_that_the_ip_is_not_whitelisted(db, mocked_responses, settings, monkeypatch):
    from emag.sandbox import Sandbox

    settings.EMAG_RATE_LIMIT_ENABLED = False
    mocked_responses.add_passthru("http://127.0.0.1")
    sandbox = Sandbox(seed=5, offers=5, allowed_ips=["203.0.113.0/24"])
    server = sandbox.serve(host="127.0.0.1", port=0)
    try:
        add_sandbox_account(monkeypatch, server.base_url, *sandbox.credentials("main"))
        with pytest.raises(CommandError, match="IP address .*whitelist"):
            run("test", "main")
    finally:
        server.stop()


def test_it_says_clearly_that_the_network_is_down(db, mocked_responses, settings, monkeypatch):
    import socket

    settings.EMAG_RATE_LIMIT_ENABLED = False
    mocked_responses.add_passthru("http://127.0.0.1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    add_sandbox_account(monkeypatch, f"http://127.0.0.1:{port}/api-3", "u@example.com", "pw")

    with pytest.raises(CommandError, match="Network: eMAG at 127.0.0.1:.* could not be reached"):
        run("test", "main")
