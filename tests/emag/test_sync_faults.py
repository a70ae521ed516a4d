"""The done-when of the sync under eMAG's bad days: faults on the wire, and the truth to compare with."""

import pytest

from emag.models import Offer, SyncError, SyncRun
from emag.sandbox import Sandbox
from emag.sync import sync_offers
from tests.conftest import SANDBOX_BASE_URL
from tests.emag.sync_helpers import assert_offer_matches, quick_client, truth_by_id

pytestmark = pytest.mark.django_db

OFFERS = 2000
# 5 % malformed records; 10 % of calls answered 429 or 5xx; some truncated pages.
FAULTS = "badrecord:0.05,429:0.04,500:0.02,502:0.02,504:0.02,truncated:0.03"
UNUSABLE_ANSWERS = {"truncated", "badjson", "iserror", "hang"}


@pytest.fixture
def sandbox(mocked_responses):
    # Faults are drawn from the seed and the request number: with seed 21 every kind strikes
    # within the ~22 requests of one account's sync (the test asserts that it did).
    sb = Sandbox(seed=21, offers=OFFERS, faults=FAULTS, rate_limit=False)
    sb.install(mocked_responses, SANDBOX_BASE_URL)
    return sb


@pytest.fixture(autouse=True)
def no_client_rate_limit(settings):
    settings.EMAG_RATE_LIMIT_ENABLED = False


def fault_kinds(entry) -> set[str]:
    """A log entry's faults: one request fault, and `badrecord`, joined by commas."""
    return set(entry.fault.split(",")) if entry.fault else set()


def used_corruptions(sandbox, name):
    """The spoiled records of the answers the client accepted (a truncated answer is thrown away)."""
    used = {
        entry.sequence
        for entry in sandbox.request_log
        if entry.account == name
        and entry.route == "product_offer/read"
        and entry.status == 200
        and not fault_kinds(entry) & UNUSABLE_ANSWERS
    }
    return [
        record
        for record in sandbox.corrupted_records
        if record.account == name and record.route == "product_offer/read" and record.sequence in used
    ]


@pytest.mark.parametrize("name", ["main", "fbe"])
def test_every_valid_offer_is_stored_once_with_its_latest_values_and_every_bad_record_is_logged(
    name, account, other_account, sandbox
):
    seller = {"main": account, "fbe": other_account}[name]

    run = sync_offers(seller, client=quick_client(seller))

    truth = truth_by_id(sandbox, name)
    corrupted = used_corruptions(sandbox, name)
    faults_met = set().union(*(fault_kinds(entry) for entry in sandbox.request_log if entry.account == name))
    # The faults did strike: throttling, server errors, truncated bodies and bad records.
    assert {"429", "truncated", "badrecord"} <= faults_met
    assert faults_met & {"500", "502", "504"}
    assert corrupted

    assert run.status == SyncRun.Status.COMPLETED_WITH_REJECTIONS, run.error_message
    assert run.is_full_read
    assert run.retries > 0 and run.throttled > 0
    # Counts reconcile with each other and with the sandbox.
    assert run.expected_total == len(truth) == OFFERS
    assert run.fetched == OFFERS
    assert run.fetched == run.created + run.updated + run.unchanged + run.rejected
    assert run.rejected == SyncError.objects.filter(run=run, index__isnull=False).count()
    assert not SyncError.objects.filter(run=run, index__isnull=True).exists()  # no page was lost
    # One rejection per spoiled record, except where a duplicate swapped in a clean copy of a
    # record whose own copy had lost its id: then that copy is the first good read of its offer.
    duplicates = sum(1 for record in corrupted if record.kind == "duplicate")
    assert len(corrupted) - duplicates <= run.rejected <= len(corrupted)

    stored = {offer.emag_id: offer for offer in Offer.objects.filter(account=seller).select_related("product")}
    assert len(stored) == run.created == OFFERS - run.rejected
    # Exactly once, nothing invented, and the latest values.
    assert set(stored) <= set(truth)
    for emag_id, offer in stored.items():
        assert_offer_matches(offer, truth[emag_id])
    # Every offer not stored is one whose record came spoiled.
    assert set(truth) - set(stored) <= {record.record_id for record in corrupted}

    for error in SyncError.objects.filter(run=run):
        assert error.reason_code and error.message and error.record
    reasons = set(SyncError.objects.filter(run=run).values_list("reason_code", flat=True))
    assert reasons <= {"missing_field", "invalid_value", "negative_value", "too_long", "duplicate_id"}
    # Records without an id hide which offers they were: none may be marked vanished, and the
    # account does not claim a full sync in which every present offer was seen.
    assert run.deactivated == 0
    seller.refresh_from_db()
    assert seller.last_full_sync_at is None
    assert seller.last_sync_status == run.status


def test_both_accounts_under_faults_end_with_their_own_offers_only(account, other_account, sandbox):
    runs = [sync_offers(seller, client=quick_client(seller)) for seller in (account, other_account)]

    for run, seller, name in zip(runs, (account, other_account), ("main", "fbe"), strict=True):
        assert run.status in SyncRun.SUCCESS_STATUSES
        truth_ids = set(truth_by_id(sandbox, name))
        assert set(Offer.objects.filter(account=seller).values_list("emag_id", flat=True)) <= truth_ids
