"""eMAG passwords are encrypted at rest, and the keys can be rotated without losing one."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from emag import crypto
from emag.models import SellerAccount

PASSWORD = "Plain-Text-Password-42"


def make_account(name, password=PASSWORD):
    account = SellerAccount(name=name, platform="ro", username=f"{name}@example.com")
    account.set_password(password)
    account.save()
    return account


def raw_column(account):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT password_encrypted FROM {SellerAccount._meta.db_table} WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def old_key(settings):
    key = Fernet.generate_key().decode()
    settings.MAGFLOW_ENCRYPTION_KEYS = [key]
    return key


def test_it_stores_the_password_encrypted(db, old_key):
    account = make_account("main")

    stored = raw_column(account)

    assert stored and PASSWORD not in stored
    assert PASSWORD.encode().hex() not in stored
    assert Fernet(old_key.encode()).decrypt(stored.encode()).decode() == PASSWORD
    assert SellerAccount.objects.get(pk=account.pk).get_password() == PASSWORD


def test_it_encrypts_the_same_password_differently_each_time(db, old_key):
    assert raw_column(make_account("main")) != raw_column(make_account("fbe"))


def test_it_rotates_every_password_to_the_first_key(db, settings, old_key):
    first = make_account("main")
    second = make_account("fbe", "another-Secret")
    before = {first.pk: raw_column(first), second.pk: raw_column(second)}
    new_key = Fernet.generate_key().decode()
    settings.MAGFLOW_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("rotate_encryption_keys")

    for account in (first, second):
        stored = raw_column(account)
        assert stored != before[account.pk]
        assert Fernet(new_key.encode()).decrypt(stored.encode())  # readable with the new key alone
    settings.MAGFLOW_ENCRYPTION_KEYS = [new_key]
    assert SellerAccount.objects.get(pk=first.pk).get_password() == PASSWORD
    assert SellerAccount.objects.get(pk=second.pk).get_password() == "another-Secret"
    settings.MAGFLOW_ENCRYPTION_KEYS = [old_key]
    with pytest.raises(crypto.DecryptionError):
        SellerAccount.objects.get(pk=first.pk).get_password()


def test_it_changes_nothing_when_one_password_cannot_be_decrypted(db, settings, old_key):
    readable = make_account("main")
    settings.MAGFLOW_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    lost = make_account("fbe")  # encrypted with a key that is about to be forgotten
    before = raw_column(readable), raw_column(lost)
    settings.MAGFLOW_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old_key]

    with pytest.raises(CommandError, match="fbe"):
        call_command("rotate_encryption_keys")

    assert (raw_column(readable), raw_column(lost)) == before


def test_it_refuses_a_key_that_is_not_a_fernet_key(settings):
    settings.MAGFLOW_ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt("x")


@pytest.mark.parametrize(
    ("platform", "base_url", "error"),
    [
        ("custom", "", "A custom platform needs its base URL."),
        ("custom", "ftp://127.0.0.1/api-3", "Use an http or https URL."),
        ("ro", "http://127.0.0.1:8001/api-3", "Only a custom platform takes a base URL."),
    ],
)
def test_an_account_refuses_a_base_url_that_does_not_fit_its_platform(platform, base_url, error):
    from django.core.exceptions import ValidationError

    from emag.models import SellerAccount

    account = SellerAccount(name="main", platform=platform, base_url=base_url, username="u")
    with pytest.raises(ValidationError) as refused:
        account.clean()
    assert refused.value.message_dict == {"base_url": [error]}


def test_an_account_accepts_a_named_platform_or_a_custom_http_url():
    from emag.models import SellerAccount

    SellerAccount(name="main", platform="ro", username="u").clean()
    SellerAccount(name="main", platform="custom", base_url="http://127.0.0.1:8001/api-3", username="u").clean()
