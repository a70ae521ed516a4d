from decimal import Decimal
from itertools import count

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

_emag_ids = count(1000)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The role fixtures hash passwords; the production hasher's slowness buys nothing in tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_throttles():
    """Throttle counters live in the cache; each test starts with none spent."""
    cache.clear()
    yield
    cache.clear()


def bearer(client, user):
    """Authenticate the client with a real access token of the user (None: anonymous)."""
    if user is None:
        client.credentials()
    else:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def make_offer(account, sku, *, name="", ean="", price="10.00", stock=5, status=1, sellable=True, **fields):
    from emag.models import Offer, Product

    product, _ = Product.objects.get_or_create(
        sku=sku,
        defaults={
            "name": name or f"Product {sku}",
            "eans": [ean] if ean else [],
            "ean_text": ean,
            # Both from the same eMAG record, as a sync stores them.
            "part_number_key": fields.get("part_number_key", ""),
        },
    )
    return Offer.objects.create(
        account=account,
        product=product,
        emag_id=fields.pop("emag_id", next(_emag_ids)),
        sale_price=Decimal(price) if price is not None else None,
        currency="RON",
        stock_total=stock,
        status=status,
        is_sellable=sellable,
        content_hash="x",
        last_changed_at=fields.pop("last_changed_at", timezone.now()),
        **fields,
    )


def make_run(account, status="completed", **fields):
    from emag.models import SyncRun

    now = timezone.now()
    defaults = {"trigger": SyncRun.Trigger.API, "started_at": now, "fetched": 10}
    if status not in ("queued", "running"):
        defaults["finished_at"] = now
    return SyncRun.objects.create(account=account, status=status, **{**defaults, **fields})


@pytest.fixture
def catalogue(account, other_account):
    """A few offers on both accounts: two products on both sides, one only on fbe."""
    return [
        make_offer(account, "SKU-A", name="Red kettle", ean="5941234567890", price="99.90", stock=3),
        make_offer(account, "SKU-B", name="Blue mug", price="15.00", stock=0, status=0, sellable=False),
        make_offer(other_account, "SKU-A", price="101.00", stock=7),
        make_offer(other_account, "SKU-C", name="Green teapot", price="250.00", stock=12, part_number_key="DX7K2BBM"),
    ]
