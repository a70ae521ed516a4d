from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from emag import sync as sync_module
from emag.models import Offer, Product, SellerAccount, SyncError, SyncPage, SyncRun
from emag.parsing import ParsedOffer, Reason
from emag.services import SyncAlreadyRunning
from emag.sync import IdSet, sync_offers
from tests.emag.sync_helpers import FlakyClient, assert_offer_matches, offer_rows, quick_client, truth_by_id

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_rate_limit(settings, sandbox):
    settings.EMAG_RATE_LIMIT_ENABLED = False
    sandbox.set_rate_limit(False)


def reads(sandbox, name="main"):
    return [entry for entry in sandbox.request_log if entry.account == name and entry.route == "product_offer/read"]


def test_it_stores_every_offer_with_its_values(account, sandbox):
    run = sync_offers(account, client=quick_client(account))

    truth = truth_by_id(sandbox, "main")
    assert run.status == SyncRun.Status.COMPLETED
    assert run.is_full_read
    assert run.expected_total == len(truth) == 250
    assert (run.fetched, run.created, run.updated, run.unchanged, run.rejected) == (250, 250, 0, 0, 0)
    assert run.pages_done == 3 and run.last_committed_page == 3
    assert Offer.objects.filter(account=account).count() == 250
    for offer in Offer.objects.filter(account=account).select_related("product"):
        assert_offer_matches(offer, truth[offer.emag_id])
    assert SyncPage.objects.filter(run=run).count() == 3
    assert sorted(id_ for page in SyncPage.objects.filter(run=run) for id_ in page.emag_ids) == sorted(truth)
    account.refresh_from_db()
    assert account.last_sync_status == SyncRun.Status.COMPLETED
    assert account.last_full_sync_at is not None


def test_the_same_sku_on_main_and_fbe_is_one_product_with_two_offers(account, other_account, sandbox):
    sync_offers(account, client=quick_client(account))
    sync_offers(other_account, client=quick_client(other_account))

    main_skus = {row["part_number"] for row in sandbox.catalogue("main")}
    fbe_skus = {row["part_number"] for row in sandbox.catalogue("fbe")}
    shared = main_skus & fbe_skus
    assert shared
    assert Product.objects.count() == len(main_skus | fbe_skus)
    for sku in list(shared)[:20]:
        product = Product.objects.get(sku=sku)
        assert sorted(product.offers.values_list("account__name", flat=True)) == ["fbe", "main"]


def test_a_second_run_over_an_unchanged_catalogue_changes_no_offer_row(account, other_account, sandbox):
    sync_offers(account, client=quick_client(account))
    sync_offers(other_account, client=quick_client(other_account))
    before = offer_rows(account) + offer_rows(other_account)
    products_before = list(Product.objects.order_by("sku").values())

    again = sync_offers(account, client=quick_client(account))
    again_fbe = sync_offers(other_account, client=quick_client(other_account))

    assert (again.fetched, again.unchanged, again.created, again.updated) == (250, 250, 0, 0)
    assert again_fbe.unchanged == 250
    assert offer_rows(account) + offer_rows(other_account) == before
    assert list(Product.objects.order_by("sku").values()) == products_before


def test_a_changed_offer_is_rewritten_and_only_it(account, sandbox):
    sync_offers(account, client=quick_client(account))
    target = sandbox.catalogue("main")[17]
    new_price = (Decimal(target["min_sale_price"]) + Decimal("1.0000")).quantize(Decimal("0.0001"))
    quick_client(account).save_light_offers([{"id": target["id"], "sale_price": new_price}])
    before = {row["emag_id"]: row for row in offer_rows(account)}

    run = sync_offers(account, client=quick_client(account))

    assert (run.updated, run.unchanged, run.created) == (1, 249, 0)
    after = {row["emag_id"]: row for row in offer_rows(account)}
    changed = [emag_id for emag_id in after if after[emag_id] != before[emag_id]]
    assert changed == [target["id"]]
    offer = Offer.objects.get(account=account, emag_id=target["id"])
    assert offer.sale_price == new_price
    assert offer.first_seen_at == before[target["id"]]["first_seen_at"]
    assert offer.last_changed_at > before[target["id"]]["last_changed_at"]


def test_an_offer_gone_from_emag_is_marked_not_present_after_a_full_run_only(account, sandbox):
    sync_offers(account, client=quick_client(account))
    gone = sandbox.catalogue("main")[5]["id"]
    sandbox.accounts["main"].catalogue.remove(gone)

    partial = sync_offers(account, max_pages=1, client=quick_client(account))
    assert partial.deactivated == 0
    assert not partial.is_full_read
    assert Offer.objects.get(account=account, emag_id=gone).is_present

    full = sync_offers(account, client=quick_client(account))
    assert full.status == SyncRun.Status.COMPLETED
    assert full.deactivated == 1
    offer = Offer.objects.get(account=account, emag_id=gone)
    assert offer.is_present is False
    assert Offer.objects.filter(account=account, is_present=True).count() == 249


def test_a_page_that_keeps_failing_makes_the_run_partial_and_deactivates_nothing(account, sandbox):
    sync_offers(account, client=quick_client(account))
    sandbox.accounts["main"].catalogue.remove(sandbox.catalogue("main")[0]["id"])

    run = sync_offers(account, client=FlakyClient(account, failing_pages=[2]))

    assert run.status == SyncRun.Status.PARTIAL
    assert run.error_code == "page_failed"
    assert "2" in run.error_message
    assert run.failed_pages == 1
    assert run.deactivated == 0
    assert run.last_committed_page == 1  # the prefix stops at the gap
    assert SyncError.objects.filter(run=run, reason_code="page_failed", page=2).count() == 1
    assert Offer.objects.filter(account=account, is_present=False).count() == 0


def test_a_page_that_fails_once_is_read_again_at_the_end(account, sandbox):
    run = sync_offers(account, client=FlakyClient(account, failing_pages=[2], times=1))

    assert run.status == SyncRun.Status.COMPLETED
    assert run.failed_pages == 0
    assert run.fetched == 250
    assert not SyncError.objects.filter(run=run).exists()
    assert Offer.objects.filter(account=account).count() == 250


def test_too_many_failed_pages_in_a_row_fail_the_run(account, sandbox, settings):
    settings.SYNC_MAX_CONSECUTIVE_FAILED_PAGES = 2

    run = sync_offers(account, client=FlakyClient(account, failing_pages=[1, 2, 3]))

    assert run.status == SyncRun.Status.FAILED
    assert run.error_code == "page_failed"
    assert "2 pages in a row" in run.error_message


def test_resume_continues_from_the_last_committed_page(account, sandbox):
    first = sync_offers(account, client=FlakyClient(account, failing_pages=[2]))
    assert first.status == SyncRun.Status.PARTIAL
    reads_before = len(reads(sandbox))

    resumed = sync_offers(account, resume=True, client=quick_client(account))

    assert resumed.status == SyncRun.Status.COMPLETED
    assert resumed.resumed_from_id == first.pk
    assert resumed.first_page == 2
    # Page 1 came from the first run; the resumed run read pages 2 and 3 only.
    assert len(reads(sandbox)) - reads_before == 2
    assert resumed.fetched == 250
    assert resumed.fetched == resumed.created + resumed.updated + resumed.unchanged + resumed.rejected
    assert Offer.objects.filter(account=account).count() == 250
    assert resumed.is_full_read


def test_resume_after_a_complete_run_starts_from_the_first_page(account, sandbox):
    sync_offers(account, client=quick_client(account))

    run = sync_offers(account, resume=True, client=quick_client(account))

    assert run.resumed_from is None
    assert run.first_page == 1
    assert run.unchanged == 250


def test_a_malformed_record_is_rejected_with_its_reason_and_the_rest_of_the_page_is_stored(
    account, sandbox, monkeypatch
):
    original = sync_module.EmagClient.read_offers

    def read_with_bad_records(self, page=1, per_page=100, **filters):
        records = original(self, page=page, per_page=per_page, **filters)
        if page == 1:
            records[3]["sale_price"] = "-10.0000"
            del records[4]["id"]
            records[5] = dict(records[0])  # the same id twice in one page
        return records

    monkeypatch.setattr(sync_module.EmagClient, "read_offers", read_with_bad_records)
    run = sync_offers(account, client=quick_client(account))

    assert run.status == SyncRun.Status.COMPLETED_WITH_REJECTIONS
    assert run.rejected == 3
    assert run.fetched == run.created + run.rejected == 250
    errors = {error.index: error for error in SyncError.objects.filter(run=run)}
    assert errors[3].reason_code == Reason.NEGATIVE_VALUE and errors[3].emag_id is not None
    assert errors[4].reason_code == Reason.MISSING_FIELD and errors[4].emag_id is None
    assert errors[5].reason_code == Reason.DUPLICATE_ID
    assert '"sale_price": "-10.0000"' in errors[3].record
    # An unidentified record means nothing may be marked vanished.
    assert "No offer was marked vanished" in run.notes


def test_a_record_the_database_refuses_is_rejected_alone(account, sandbox, monkeypatch):
    real_parse = sync_module.parse_offer

    def parse_with_a_poisoned_record(record):
        result = real_parse(record)
        if isinstance(result, ParsedOffer) and result.emag_id == sandbox.catalogue("main")[7]["id"]:
            result.product["category_id"] = 2**70  # passes Python, fails in any database
            result.product_hash = "poisoned"
        return result

    monkeypatch.setattr(sync_module, "parse_offer", parse_with_a_poisoned_record)
    run = sync_offers(account, client=quick_client(account))

    assert run.rejected == 1
    assert run.created == 249
    error = SyncError.objects.get(run=run)
    assert error.reason_code == Reason.DATABASE_ERROR
    assert error.emag_id == sandbox.catalogue("main")[7]["id"]
    assert Offer.objects.filter(account=account).count() == 249


def test_a_dry_run_writes_no_offer_and_reports_what_would_change(account, sandbox):
    run = sync_offers(account, dry_run=True, client=quick_client(account))

    assert run.is_dry_run
    assert run.status == SyncRun.Status.COMPLETED
    assert run.created == 250
    assert not Offer.objects.exists()
    assert not Product.objects.exists()
    account.refresh_from_db()
    assert account.last_sync_at is None


def test_a_second_start_answers_already_running_without_calling_emag(account, sandbox):
    active = SyncRun.objects.create(
        account=account,
        trigger=SyncRun.Trigger.API,
        status=SyncRun.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        worker="elsewhere:1:abc",
    )
    if sync_module.AccountLock(account.pk).is_real:
        pytest.skip("on PostgreSQL a running row without its lock holder is dead; see test_sync_concurrency")

    with pytest.raises(SyncAlreadyRunning) as caught:
        sync_offers(account, client=quick_client(account))

    assert caught.value.run == active
    assert sandbox.request_log == []


def test_a_run_with_a_stale_heartbeat_is_abandoned_and_the_next_run_resumes_it(account, sandbox, settings):
    first = sync_offers(account, client=FlakyClient(account, failing_pages=[2]))
    # Make it look like a run that died while running.
    stale = timezone.now() - timedelta(seconds=settings.SYNC_HEARTBEAT_STALE_SECONDS + 5)
    SyncRun.objects.filter(pk=first.pk).update(status=SyncRun.Status.RUNNING, heartbeat_at=stale, finished_at=None)

    resumed = sync_offers(account, resume=True, client=quick_client(account))

    first.refresh_from_db()
    assert first.status == SyncRun.Status.ABANDONED
    assert resumed.resumed_from_id == first.pk
    assert resumed.status == SyncRun.Status.COMPLETED
    assert Offer.objects.filter(account=account).count() == 250


def test_a_cancel_request_stops_the_run_between_pages(account, sandbox):
    def cancel_after_first_page(run):
        SyncRun.objects.filter(pk=run.pk).update(cancel_requested=True)

    run = sync_offers(account, client=quick_client(account), progress=cancel_after_first_page)

    assert run.status == SyncRun.Status.CANCELLED
    assert run.pages_done == 1
    assert run.deactivated == 0
    assert Offer.objects.filter(account=account).count() == 100


def test_refused_credentials_fail_the_run_with_a_clear_message(db, sandbox):
    account = SellerAccount(
        name="wrong", platform=SellerAccount.Platform.CUSTOM, base_url="https://sandbox.emag.test/api-3", username="x"
    )
    account.set_password("not-the-password")
    account.save()

    run = sync_offers(account, client=quick_client(account))

    assert run.status == SyncRun.Status.FAILED
    assert run.error_code == "auth_error"
    assert "password" in run.error_message
    assert "not-the-password" not in run.error_message


def test_the_run_records_its_requests(account, sandbox):
    run = sync_offers(account, client=quick_client(account))

    # count, 3 pages, count again
    assert run.requests_made == 5
    assert run.finished_at >= run.started_at


def test_the_id_set_remembers_ids_in_and_out_of_the_bitmap():
    ids = IdSet([5, 16_777_215, 2**40])

    assert 5 in ids and 16_777_215 in ids and 2**40 in ids
    assert 6 not in ids and 2**41 not in ids and "5" not in ids
    assert ids.add(5) is False and ids.add(7) is True
    assert len(ids) == 4


def test_during_a_sync_the_cycle_collector_runs_less_often_and_its_threshold_comes_back_after(account, sandbox):
    import gc

    before = gc.get_threshold()
    during = []

    run = sync_offers(account, client=quick_client(account), progress=lambda run: during.append(gc.get_threshold()))

    assert run.status == SyncRun.Status.COMPLETED
    assert during and all(threshold[0] == sync_module.SYNC_GC_THRESHOLD for threshold in during)
    assert gc.get_threshold() == before


def test_the_collector_threshold_is_restored_only_when_the_last_of_several_syncs_ends():
    import gc

    before = gc.get_threshold()
    with sync_module.fewer_gc_passes():
        with sync_module.fewer_gc_passes():  # a second account syncing in the same process
            assert gc.get_threshold()[0] == sync_module.SYNC_GC_THRESHOLD
        assert gc.get_threshold()[0] == sync_module.SYNC_GC_THRESHOLD
    assert gc.get_threshold() == before
