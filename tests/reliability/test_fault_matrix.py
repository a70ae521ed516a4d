"""A seeded matrix of eMAG fault mixes over syncs of both accounts, and what must hold after each.

For every mix, on a fresh database: a clean first sync of both accounts, then eMAG changes (offers
removed, prices changed), then a sync of both accounts under the faults, then a clean sync. After
the faulty sync:
- no offer is stored twice, and every offer stored carries eMAG's latest values (except an offer
  a `drift` or `badrecord` fault touched during that very run, which the clean sync must then fix);
- a run that completed read every offer that was served healthy (none silently missing);
- every record refused is a SyncError with a reason, and every record the sandbox spoiled is either
  refused or stored with its true values;
- the run's counts reconcile with its pages and with eMAG's count;
- an incomplete run (partial, failed, or one whose count moved) marks no offer as vanished;
- no sync run is left active and no advisory lock is held;
- the sandbox's request log shows no one-second (or one-minute) window above eMAG's limits, and no
  429 that MagFlow caused.
After the clean sync, the database equals the sandbox's truth exactly.

The client's backoff sleeps are skipped (a fake sleep); the shared rate limiter really waits, which is
what keeps the request log within eMAG's limits. RELIABILITY_SEED shifts every seed to explore more.
"""

import os
from decimal import Decimal

import pytest
from django.test import override_settings

from emag.client import EmagClient
from emag.models import Offer, Product, SyncError, SyncPage, SyncRun
from emag.sandbox import Sandbox
from emag.sync import sync_offers
from tests.conftest import SANDBOX_BASE_URL
from tests.reliability.conftest import advisory_locks_held, assert_within_emag_limits, throttled_by_sandbox

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

SEED_OFFSET = int(os.environ.get("RELIABILITY_SEED", "0"))
OFFERS_PER_ACCOUNT = 250  # three pages: 100, 100, 50

# name: (fault spec, extra Sandbox arguments)
MIXES = {
    "429 without Retry-After": ("429:0.3", {}),
    "429 with Retry-After": ("429:0.3", {"retry_after": True}),
    "5xx bursts": ("500:0.15,502:0.1,504:0.15", {}),
    "timeouts and hangs": ("hang:0.15,slow:0.15", {}),
    "truncated and non-JSON bodies": ("truncated:0.2,badjson:0.15", {}),
    "isError pages": ("iserror:0.25", {}),
    "malformed records": ("badrecord:0.06", {}),
    "catalogue changes during the run": ("drift:0.6", {}),
    "everything at once": (
        "429:0.05,500:0.05,502:0.03,504:0.03,hang:0.03,slow:0.03,truncated:0.05,badjson:0.03,iserror:0.05,"
        "badrecord:0.03,drift:0.3",
        {},
    ),
}


def _no_sleep(seconds: float) -> None:
    """The client's backoff, skipped; the rate limiter still waits for real."""


def sync(account) -> SyncRun:
    with EmagClient(account, sleep=_no_sleep) as client:
        return sync_offers(account, trigger=SyncRun.Trigger.COMMAND, client=client)


def truth_by_id(sandbox: Sandbox, name: str) -> dict[int, dict]:
    return {row["id"]: row for row in sandbox.catalogue(name)}


def values_of_row(row: dict) -> dict:
    return {
        "sku": row["part_number"],
        "name": row["name"],
        "sale_price": Decimal(str(row["sale_price"])),
        "status": int(row["status"]),
        "stock_total": sum(int(item["value"]) for item in row["stock"]),
        "part_number_key": row["part_number_key"],
    }


def values_of_offer(offer: Offer) -> dict:
    return {
        "sku": offer.product.sku,
        "name": offer.product.name,
        "sale_price": offer.sale_price,
        "status": offer.status,
        "stock_total": offer.stock_total,
        "part_number_key": offer.part_number_key,
    }


def stored(account) -> dict[int, Offer]:
    return {offer.emag_id: offer for offer in Offer.objects.filter(account=account).select_related("product")}


def assert_no_duplicates(account) -> None:
    ids = list(Offer.objects.filter(account=account).values_list("emag_id", flat=True))
    assert len(ids) == len(set(ids))
    skus = list(Product.objects.values_list("sku", flat=True))
    assert len(skus) == len(set(skus))


def assert_nothing_left_running() -> None:
    assert not SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES).exists()
    assert advisory_locks_held() == 0


def assert_equals_truth(account, sandbox: Sandbox) -> None:
    truth = truth_by_id(sandbox, account.name)
    rows = stored(account)
    present = {emag_id for emag_id, offer in rows.items() if offer.is_present}
    assert present == set(truth), f"present {len(present)} vs truth {len(truth)}"
    for emag_id, row in truth.items():
        assert values_of_offer(rows[emag_id]) == values_of_row(row), emag_id


def healthy_reads(sandbox: Sandbox, name: str) -> dict[int, str]:
    """Sequence number -> fault of each product_offer/read of the account that answered 200."""
    return {
        entry.sequence: entry.fault or ""
        for entry in sandbox.request_log
        if entry.account == name and entry.route == "product_offer/read" and entry.status == 200
    }


def change_catalogue(sandbox: Sandbox, account) -> set[int]:
    """eMAG-side changes between two syncs: three offers removed, three repriced (through the light API)."""
    state = sandbox.accounts[account.name]
    ids = sorted(state.catalogue.ids)
    removed = {ids[5], ids[120], ids[-1]}
    for emag_id in removed:
        state.catalogue.remove(emag_id)
    repriced = [ids[7], ids[130], ids[-3]]
    items = []
    for emag_id in repriced:
        row = sandbox.offer(account.name, emag_id)
        low, high = Decimal(row["min_sale_price"]), Decimal(row["max_sale_price"])
        items.append({"id": emag_id, "sale_price": str(((low + high) / 2).quantize(Decimal("0.0001")))})
    with EmagClient(account, sleep=_no_sleep) as client:
        client.save_light_offers(items)
    return removed


def check_faulty_run(run: SyncRun, account, sandbox: Sandbox, count_before: int, removed_before: set[int]) -> None:
    name = account.name
    truth = truth_by_id(sandbox, name)
    rows = stored(account)
    touched = {event.record_id for event in sandbox.drift_events if event.account == name}
    spoiled = sandbox.corrupted_ids(name)
    removed_during_run = {e.record_id for e in sandbox.drift_events if e.account == name and e.kind == "remove"}

    assert_no_duplicates(account)
    assert set(rows) - set(truth) <= removed_before | removed_during_run

    # Latest values: what eMAG holds now, for every offer the faults did not touch during this run.
    for emag_id, offer in rows.items():
        if emag_id in truth and emag_id not in touched and emag_id not in spoiled:
            assert values_of_offer(offer) == values_of_row(truth[emag_id]), f"{name}:{emag_id} has stale values"

    errors = list(SyncError.objects.filter(run=run))
    record_errors = [e for e in errors if e.index is not None]
    assert all(e.reason_code and e.message for e in errors)
    assert run.rejected == len(record_errors)

    # Every spoiled record that reached the parser intact otherwise is refused with a reason, or stored true.
    reads = healthy_reads(sandbox, name)
    for bad in sandbox.corrupted_records:
        if bad.account != name or bad.route != "product_offer/read":
            continue
        fault = reads.get(bad.sequence)
        if fault is None or "truncated" in fault:
            continue  # the answer was refused whole (and read again)
        if bad.kind == "missing_id":
            assert any(e.page == bad.page and e.emag_id is None for e in record_errors), bad
        elif bad.kind == "duplicate":
            assert any(e.reason_code == "duplicate_id" for e in record_errors), bad
        elif not any(e.emag_id == bad.record_id for e in record_errors):
            offer = rows.get(bad.record_id)
            assert offer is not None, f"spoiled record {bad} neither refused nor stored"
            if bad.record_id in truth and bad.record_id not in touched:
                assert values_of_offer(offer) == values_of_row(truth[bad.record_id]), f"stored a spoiled record: {bad}"

    # Counts reconcile with the pages and with eMAG's count.
    pages = list(SyncPage.objects.filter(run=run))
    assert run.fetched == sum(page.fetched for page in pages)
    assert run.created + run.updated + run.unchanged + run.rejected == run.fetched
    if not touched:
        assert run.expected_total == count_before

    complete = run.status in SyncRun.SUCCESS_STATUSES
    if complete:
        assert not any(e.reason_code == "page_failed" for e in errors)
    vanished = {emag_id for emag_id, offer in rows.items() if not offer.is_present}
    # Whatever moved under the reader, an offer still on eMAG is never marked vanished.
    assert not vanished & set(truth), f"{name}: offers still on eMAG marked vanished: {sorted(vanished & set(truth))}"
    if not complete:
        # An incomplete run cannot know what vanished: it marks nothing.
        assert run.deactivated == 0
        assert vanished == set()
    assert run.deactivated == len(vanished)

    if complete and not touched:
        # Nothing silently missing: every offer eMAG holds is stored, unless its record was refused.
        missing = set(truth) - set(rows)
        assert missing <= spoiled, f"{name}: offers missing without a rejection: {sorted(missing - spoiled)[:10]}"


@pytest.mark.parametrize("mix", list(MIXES))
def test_it_survives_the_fault_mix(mix, mocked_responses):
    spec, extra = MIXES[mix]
    seed = list(MIXES).index(mix) + 11 + SEED_OFFSET
    sandbox = Sandbox(seed=seed, offers=OFFERS_PER_ACCOUNT, **extra)
    sandbox.install(mocked_responses, SANDBOX_BASE_URL)
    from tests.conftest import _seller_account

    accounts = [
        _seller_account("main", "main", *sandbox.credentials("main")),
        _seller_account("fbe", "fbe", *sandbox.credentials("fbe")),
    ]
    # A short read timeout, so a `slow` answer (3 s) is a timeout too.
    with override_settings(EMAG_READ_TIMEOUT=1.0, EMAG_CONNECT_TIMEOUT=1.0):
        for account in accounts:
            first = sync(account)
            assert first.status == SyncRun.Status.COMPLETED, first.error_message
            assert_equals_truth(account, sandbox)

        removed = {account.name: change_catalogue(sandbox, account) for account in accounts}
        sandbox.set_faults(spec)
        for account in accounts:
            count_before = len(sandbox.catalogue(account.name))
            run = sync(account)
            check_faulty_run(run, account, sandbox, count_before, removed[account.name])
            assert_nothing_left_running()

        sandbox.set_faults("")
        for account in accounts:
            clean = sync(account)
            assert clean.status == SyncRun.Status.COMPLETED, (clean.status, clean.error_message)
            assert_equals_truth(account, sandbox)
            assert_nothing_left_running()

    assert_within_emag_limits(sandbox.request_log)
    assert throttled_by_sandbox(sandbox.request_log) == []


def test_an_incomplete_run_marks_no_offer_vanished(mocked_responses):
    sandbox = Sandbox(seed=5 + SEED_OFFSET, offers=OFFERS_PER_ACCOUNT)
    sandbox.install(mocked_responses, SANDBOX_BASE_URL)
    from tests.conftest import _seller_account

    account = _seller_account("main", "main", *sandbox.credentials("main"))
    assert sync(account).status == SyncRun.Status.COMPLETED
    removed = change_catalogue(sandbox, account)

    # Every offer read fails: the run cannot see the catalogue, so it must not conclude anything vanished.
    sandbox.set_faults("500:1")
    with override_settings(EMAG_MAX_TRIES=2):
        broken = sync(account)
    assert broken.status in (SyncRun.Status.FAILED, SyncRun.Status.PARTIAL)
    assert broken.deactivated == 0
    assert Offer.objects.filter(account=account, is_present=True).count() == OFFERS_PER_ACCOUNT
    assert broken.error_message

    sandbox.set_faults("")
    healed = sync(account)
    assert healed.status == SyncRun.Status.COMPLETED
    assert healed.deactivated == len(removed)
    assert set(Offer.objects.filter(account=account, is_present=False).values_list("emag_id", flat=True)) == removed
    assert_nothing_left_running()
    assert_within_emag_limits(sandbox.request_log)


class ListingMovedClient(EmagClient):
    """Page 1 answers a copy of page 2's first record in place of one of its own, as a listing that
    moved under the reader does (the sandbox's `duplicate` badrecord, made deterministic)."""

    def read_offers(self, page: int = 1, per_page: int = 100, **filters) -> list[dict]:
        records = super().read_offers(page=page, per_page=per_page, **filters)
        if page == 1:
            next_page = super().read_offers(page=2, per_page=per_page, **filters)
            self.hidden_id = records[10]["id"]
            records[10] = next_page[0]
        return records


def test_a_record_hidden_by_a_duplicate_is_not_marked_vanished(mocked_responses):
    sandbox = Sandbox(seed=7 + SEED_OFFSET, offers=OFFERS_PER_ACCOUNT, rate_limit=False)
    sandbox.install(mocked_responses, SANDBOX_BASE_URL)
    from tests.conftest import _seller_account

    account = _seller_account("main", "main", *sandbox.credentials("main"))
    assert sync(account).status == SyncRun.Status.COMPLETED

    with ListingMovedClient(account, sleep=_no_sleep) as client:
        run = sync_offers(account, trigger=SyncRun.Trigger.COMMAND, client=client)

    # eMAG's count (250) equals the records read (250), but only 249 distinct offers were seen:
    # the hidden offer is still on eMAG and must stay present.
    assert SyncError.objects.filter(run=run, reason_code="duplicate_id").count() == 1
    assert Offer.objects.get(account=account, emag_id=client.hidden_id).is_present
    assert run.deactivated == 0
