import time

import pytest

from emag.sandbox import Sandbox

from .conftest import call


def test_it_builds_100000_offers_per_account_in_well_under_a_few_seconds(clock):
    started = time.perf_counter()
    sb = Sandbox(seed=1, offers=100_000, rate_limit=False, clock=clock)
    count = call(sb, "product_offer/count", {}).json()["results"]
    first = call(sb, "product_offer/read", {"currentPage": 1}).json()["results"]
    last = call(sb, "product_offer/read", {"currentPage": 1000}, name="fbe").json()["results"]
    elapsed = time.perf_counter() - started
    assert count == {"noOfItems": "100000", "noOfPages": "1000", "itemsPerPage": "100"}
    assert len(first) == len(last) == 100
    assert elapsed < 5


def test_it_generates_offers_the_same_whatever_order_they_are_first_read_in():
    forwards = Sandbox(seed=9, offers=300)
    backwards = Sandbox(seed=9, offers=300)
    ids = forwards.accounts["main"].catalogue.ids
    for offer_id in reversed(ids):
        backwards.offer("main", offer_id)
    assert forwards.catalogue("main") == backwards.catalogue("main")


def test_it_keeps_skus_pnks_and_eans_unique_across_the_whole_sandbox():
    sb = Sandbox(seed=3, offers=5000)
    products = [sb.products.get(i) for i in range(sb.products.size)]
    assert len({p.part_number for p in products}) == len(products) == 7000
    assert len({p.part_number_key for p in products}) == len(products)
    eans = [e for p in products for e in p.ean]
    assert len(set(eans)) == len(eans)


@pytest.mark.slow
def test_it_generates_every_one_of_100000_offers_in_seconds():
    sb = Sandbox(seed=1, offers=100_000)
    started = time.perf_counter()
    offers = list(sb.accounts["main"].catalogue.in_order())
    elapsed = time.perf_counter() - started
    assert len(offers) == 100_000 and len({o.part_number for o in offers}) == 100_000
    assert elapsed < 20  # about 2 s on an idle core; generous for a loaded CI machine
