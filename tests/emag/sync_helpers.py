"""Helpers shared by the sync tests (not a test module)."""

from decimal import Decimal

from emag.client import EmagClient, EmagUnavailable
from emag.models import Offer


def quick_client(account, **kwargs) -> EmagClient:
    """A client whose retry backoff does not really sleep."""
    return EmagClient(account, sleep=lambda seconds: None, **kwargs)


class FlakyClient(EmagClient):
    """A real client whose reads of some pages fail `times` times (as if every retry had failed)."""

    def __init__(self, account, failing_pages, times=10**6, **kwargs):
        super().__init__(account, sleep=lambda seconds: None, **kwargs)
        self.failing = {page: times for page in failing_pages}

    def read_offers(self, page=1, per_page=100, **filters):
        if self.failing.get(page, 0) > 0:
            self.failing[page] -= 1
            raise EmagUnavailable(f"product_offer/read: eMAG answered 503 (page {page})", status_code=503)
        return super().read_offers(page=page, per_page=per_page, **filters)


def offer_rows(account) -> list[dict]:
    """Every column of every offer of the account, to compare before and after."""
    return list(Offer.objects.filter(account=account).order_by("emag_id").values())


def truth_by_id(sandbox, name) -> dict[int, dict]:
    return {row["id"]: row for row in sandbox.catalogue(name)}


def assert_offer_matches(offer: Offer, truth: dict) -> None:
    assert offer.product.sku == truth["part_number"]
    assert offer.sale_price == Decimal(truth["sale_price"])
    assert offer.status == truth["status"]
    assert offer.stock_total == sum(item["value"] for item in truth["stock"])
    assert offer.general_stock == truth["general_stock"]
    assert offer.validation_status == truth["validation_status"][0]["value"]
    assert offer.raw["part_number"] == truth["part_number"]
    assert offer.raw["sale_price"] == truth["sale_price"]
    assert offer.is_present is True
