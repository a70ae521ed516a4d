"""Admin test helpers: offers in known states, and a client logged in with a given role."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from emag.models import Offer, Product, SyncRun


def make_offer(account, sku, emag_id, *, name=None, eans=(), **fields):
    product, _ = Product.objects.get_or_create(
        sku=sku,
        defaults={
            "name": name or f"Produs {sku}",
            "eans": list(eans),
            "ean_text": " ".join(eans),
            "part_number_key": fields.get("part_number_key", ""),
        },
    )
    values = {
        "status": Offer.Status.ACTIVE,
        "stock": [{"warehouse_id": 1, "value": 10}],
        "stock_total": 10,
        "validation_status": 9,
        "validation_status_description": "Documentation approved",
        "offer_validation_status": 1,
        "offer_validation_status_description": "Saleable",
        "is_sellable": True,
        "sale_price": "84.0336",
        "currency": "RON",
        "buy_button_rank": 1,
        "content_hash": "h",
        "raw": {"id": emag_id, "part_number": sku, "name": product.name},
    }
    values.update(fields)
    return Offer.objects.create(account=account, product=product, emag_id=emag_id, **values)


@pytest.fixture
def offers(account, other_account):
    """A small catalogue where each offer differs from the others in one way the filters look at."""
    return {
        "lamp": make_offer(
            account, "LMP-042", 10042, name="Lampa birou LED", eans=["5941234567890"], part_number_key="D33HD4MBM"
        ),
        "lamp_fbe": make_offer(
            other_account,
            "LMP-042",
            20042,
            name="Lampa birou LED",
            part_number_key="D33HD4MBM",
            stock=[{"warehouse_id": 2, "value": 3}],
            stock_total=3,
            buy_button_rank=2,
        ),
        "kettle": make_offer(
            account,
            "FRB-007",
            10007,
            name="Fierbator Tefal",
            status=Offer.Status.INACTIVE,
            is_sellable=False,
            stock=[{"warehouse_id": 1, "value": 0}],
            stock_total=0,
        ),
        "mixer": make_offer(
            account,
            "MIX-100",
            10100,
            name="Mixer vertical",
            validation_status=5,
            validation_status_description="Brand rejected",
            is_sellable=False,
        ),
        "gone": make_offer(
            account,
            "OLD-001",
            10001,
            name="Produs retras",
            is_present=False,
            offer_validation_status=2,
            offer_validation_status_description="Invalid price",
            is_sellable=False,
            stock=[{"warehouse_id": 1, "value": 50}, {"warehouse_id": 7, "value": 25}],
            stock_total=75,
        ),
    }


@pytest.fixture
def login():
    def log_in(user):
        client = Client()
        client.force_login(user)
        return client

    return log_in


@pytest.fixture
def superuser(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser(email="root@example.com", password="a-Long-test-passw0rd")


def make_run(account, *, status=SyncRun.Status.COMPLETED, ago_minutes=5, duration=12.5, **fields):
    created = timezone.now() - timedelta(minutes=ago_minutes)
    values = {
        "trigger": SyncRun.Trigger.SCHEDULE,
        "status": status,
        "created_at": created,
        "started_at": created,
        "finished_at": None if status in SyncRun.ACTIVE_STATUSES else created + timedelta(seconds=duration),
        "expected_total": 300,
        "fetched": 300,
        "pages_done": 3,
        "last_committed_page": 3,
    }
    values.update(fields)
    return SyncRun.objects.create(account=account, **values)
