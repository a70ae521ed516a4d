"""The production path on PostgreSQL: pages read ahead and stored by several writer threads at once.

Tests inside a transaction (most of the suite) store pages one at a time in the test's own
connection; here every page commits for real, from the writers' own connections, in any order.
"""

import threading
import time

import pytest
from django.db import connection
from django.db.models import Sum

from emag import sync as sync_module
from emag.models import Offer, Product, SyncError, SyncPage, SyncRun
from emag.sync import sync_offers
from tests.emag import test_sync_faults as faults
from tests.emag.sync_helpers import assert_offer_matches, quick_client, truth_by_id
from tests.reliability.conftest import advisory_locks_held, assert_within_emag_limits, busiest_windows

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

sandbox = faults.sandbox  # 2,000 offers per account; malformed records, 429s, 5xx, truncated pages


@pytest.fixture(autouse=True)
def writers_on_postgresql(settings):
    if connection.vendor != "postgresql":
        pytest.skip("the writers' threads run on PostgreSQL only")
    settings.EMAG_RATE_LIMIT_ENABLED = False
    settings.SYNC_WRITERS = 3


def assert_counts_reconcile(run: SyncRun, pages: int) -> None:
    sums = SyncPage.objects.filter(run=run).aggregate(
        **{name: Sum(name) for name in ("fetched", "created", "updated", "unchanged", "rejected")}
    )
    assert {name: getattr(run, name) for name in sums} == sums
    assert run.fetched == run.created + run.updated + run.unchanged + run.rejected
    assert run.pages_done == SyncPage.objects.filter(run=run).count() == pages
    assert run.last_committed_page == pages
    assert run.rejected == SyncError.objects.filter(run=run, index__isnull=False).count()


def test_with_three_writers_every_valid_offer_is_stored_once_and_the_counts_reconcile(account, sandbox, monkeypatch):
    stored_by = set()
    store = sync_module._Engine._store_page

    def spy(self, *args, **kwargs):
        stored_by.add(threading.current_thread().name)
        return store(self, *args, **kwargs)

    monkeypatch.setattr(sync_module._Engine, "_store_page", spy)
    run = sync_offers(account, client=quick_client(account))

    assert {name for name in stored_by if name.startswith("sync-writer-")}, stored_by  # the writers did the work
    truth = truth_by_id(sandbox, "main")
    corrupted = faults.used_corruptions(sandbox, "main")
    assert corrupted
    assert run.status == SyncRun.Status.COMPLETED_WITH_REJECTIONS, run.error_message
    assert run.fetched == len(truth) == faults.OFFERS
    assert_counts_reconcile(run, pages=faults.OFFERS // 100)
    stored = {offer.emag_id: offer for offer in Offer.objects.filter(account=account).select_related("product")}
    assert len(stored) == run.created == faults.OFFERS - run.rejected
    assert set(stored) <= set(truth)
    for emag_id, offer in stored.items():
        assert_offer_matches(offer, truth[emag_id])
    assert set(truth) - set(stored) <= {record.record_id for record in corrupted}
    assert advisory_locks_held() == 0
    assert not SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES).exists()


def test_pages_that_commit_out_of_order_still_end_at_the_last_page_with_every_page_counted_once(
    account, sandbox, monkeypatch
):
    write = sync_module._Engine._write
    committed_order = []

    def slow_second_page(self, number, result):
        if number == 2:
            time.sleep(0.5)  # page 3 (and more) commit while page 2 is still being written
        write(self, number, result)
        committed_order.append(number)

    monkeypatch.setattr(sync_module._Engine, "_write", slow_second_page)
    run = sync_offers(account, client=quick_client(account))

    assert committed_order.index(3) < committed_order.index(2)
    assert run.status in SyncRun.SUCCESS_STATUSES, run.error_message
    assert_counts_reconcile(run, pages=faults.OFFERS // 100)
    assert Offer.objects.filter(account=account).count() == run.created


def test_a_page_that_cannot_be_stored_fails_the_run_keeps_the_pages_before_it_and_a_resume_completes(
    account, sandbox, monkeypatch
):
    store = sync_module._Engine._store_page

    def broken_page_five(self, number, result, **kwargs):
        if number == 5:
            raise RuntimeError("disk full")
        return store(self, number, result, **kwargs)

    monkeypatch.setattr(sync_module._Engine, "_store_page", broken_page_five)
    failed = sync_offers(account, client=quick_client(account))
    monkeypatch.undo()

    assert failed.status == SyncRun.Status.FAILED
    assert failed.error_code == "internal_error" and "disk full" in failed.error_message
    assert failed.last_committed_page == 4
    assert not SyncPage.objects.filter(run=failed, number=5).exists()
    assert failed.fetched == SyncPage.objects.filter(run=failed).aggregate(total=Sum("fetched"))["total"]
    assert advisory_locks_held() == 0

    resumed = sync_offers(account, client=quick_client(account), resume=True)

    assert resumed.status in SyncRun.SUCCESS_STATUSES, resumed.error_message
    assert resumed.resumed_from_id == failed.pk and resumed.first_page == 5
    assert resumed.fetched == faults.OFFERS
    emag_ids = list(Offer.objects.filter(account=account).values_list("emag_id", flat=True))
    assert len(emag_ids) == len(set(emag_ids)) == faults.OFFERS - resumed.rejected
    assert advisory_locks_held() == 0


def test_two_accounts_with_writers_each_end_with_their_own_offers(account, other_account, sandbox):
    runs = {}

    def one(seller):
        try:
            runs[seller.name] = sync_offers(seller, client=quick_client(seller))
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(seller,)) for seller in (account, other_account)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for seller in (account, other_account):
        run = runs[seller.name]
        assert run.status in SyncRun.SUCCESS_STATUSES, run.error_message
        assert_counts_reconcile(run, pages=faults.OFFERS // 100)
        assert set(Offer.objects.filter(account=seller).values_list("emag_id", flat=True)) <= set(
            truth_by_id(sandbox, seller.name)
        )


def offer_table_rows_estimate() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'emag_offer'::regclass")
        return cursor.fetchone()[0]


def test_a_sync_that_grows_the_offer_table_refreshes_its_planner_statistics_as_it_goes(account, sandbox, monkeypatch):
    monkeypatch.setattr(sync_module, "SYNC_ANALYZE_ROWS", 300)
    refreshes = []
    refresh = sync_module._Engine._refresh_statistics

    def counted(self):
        refresh(self)
        refreshes.append(offer_table_rows_estimate())

    monkeypatch.setattr(sync_module._Engine, "_refresh_statistics", counted)
    assert offer_table_rows_estimate() <= 0  # never analysed: the planner knows nothing of the table

    first = sync_offers(account, client=quick_client(account))

    assert first.status in SyncRun.SUCCESS_STATUSES, first.error_message
    # After 300 new offers, then each time the table grew by half (at least 300): about 300, 600, 900 and
    # 1,350 of the 1,900 stored, give or take a page (pages commit in any order on three writers).
    assert 3 <= len(refreshes) <= 5
    assert refreshes == sorted(refreshes) and refreshes[-1] >= 900
    done = len(refreshes)

    again = sync_offers(account, client=quick_client(account))  # only what the first run's faults left out

    assert again.created < 300 and len(refreshes) == done


def test_new_products_go_straight_in_and_one_stored_meanwhile_by_another_sync_makes_the_page_upsert(
    account, sandbox, monkeypatch, caplog
):
    copy_upsert = sync_module._copy_upsert
    direct_copies, raced = [], []

    def another_sync_stores_a_product_first(model, columns, rows, **kwargs):
        if model is Product and kwargs.get("direct"):
            direct_copies.append(len(rows))
            if len(direct_copies) == 3:
                # Another account's sync commits one of this page's SKUs between its lookup and its COPY.
                sku = rows[0][columns.index("sku")]
                racer = threading.Thread(target=store_product_elsewhere, args=(sku,))
                racer.start()
                racer.join()
                raced.append(sku)
        return copy_upsert(model, columns, rows, **kwargs)

    monkeypatch.setattr(sync_module, "_copy_upsert", another_sync_stores_a_product_first)
    run = sync_offers(account, client=quick_client(account))

    assert len(direct_copies) >= faults.OFFERS // 100 - 1  # a first sync's pages are all new products
    assert run.status in SyncRun.SUCCESS_STATUSES, run.error_message
    assert not SyncError.objects.filter(run=run, reason_code="database_error").exists()
    assert "writing record by record" not in caplog.text  # the page upserted in bulk, not offer by offer
    product = Product.objects.get(sku=raced[0])
    assert product.name != "stored by another sync"  # the page's upsert gave it eMAG's values
    assert product.offers.filter(account=account).count() == 1
    assert Offer.objects.filter(account=account).count() == run.created


def store_product_elsewhere(sku: str) -> None:
    try:
        Product.objects.create(sku=sku, name="stored by another sync")
    finally:
        connection.close()


def test_two_readers_read_pages_in_turn_and_together_stay_within_emags_limits(account, sandbox, settings, monkeypatch):
    settings.EMAG_RATE_LIMIT_ENABLED = True
    settings.SYNC_READERS = 2
    sandbox.set_rate_limit(True)
    readers = {}
    read_offers = sync_module.EmagClient.read_offers

    def spy(self, page=1, **kwargs):
        readers[page] = (threading.current_thread().name, id(self))
        return read_offers(self, page=page, **kwargs)

    monkeypatch.setattr(sync_module.EmagClient, "read_offers", spy)
    run = sync_offers(account, client=quick_client(account))

    assert run.status == SyncRun.Status.COMPLETED_WITH_REJECTIONS, run.error_message
    assert_counts_reconcile(run, pages=faults.OFFERS // 100)
    assert len({thread for thread, _ in readers.values()}) == 2  # two threads, each with its own client
    assert len({client for _, client in readers.values()}) == 2
    assert busiest_windows(sandbox.request_log, account="main")[("main", "other")][0] == 3  # at the limit, not over
    assert_within_emag_limits(sandbox.request_log, account="main")
    assert run.requests_made == len(sandbox.request_log)  # both clients' requests are counted
