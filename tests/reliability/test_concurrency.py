"""Concurrency between real processes sharing one PostgreSQL database.

- Two `sync_emag` processes for one account, started together, and an API start while they run:
  one sync runs; the other process exits 4 and the API answers 409, neither calling eMAG.
- Both accounts synced by two processes at once, under eMAG's rate limits: they run side by side
  (about the time of one), each within its own limit, and neither touches the other's offers.
- A staff edit in the admin during a sync. The rule for who wins:
    * Products and offers belong to eMAG. The admin shows them read-only (a change is refused with
      403), so only a sync writes them, and the next sync always brings eMAG's values.
    * A seller account's settings (name, credentials, active, interval) belong to staff. A sync
      never saves the account row: it writes only its own status columns (last sync time and
      status, last full sync) with targeted UPDATEs, so a staff edit made during a sync survives it.
      A run in flight keeps the credentials it started with; the next run uses the new ones.
"""

import time

import pytest
from django.test import Client

from emag.models import ApiCall, Offer, Product, SellerAccount, SyncRun
from tests.reliability.conftest import (
    assert_within_emag_limits,
    make_account,
    manage,
    requires_postgresql,
    subprocess_env,
    throttled_by_sandbox,
    wait_until,
)

pytestmark = [pytest.mark.slow, requires_postgresql, pytest.mark.django_db(transaction=True)]


def truth_ids(sandbox, name: str) -> set[int]:
    return {row["id"] for row in sandbox.catalogue(name)}


def test_two_processes_syncing_one_account_one_runs_the_other_is_refused_without_calling_emag(
    http_sandbox, api_client, operator
):
    sandbox, base_url = http_sandbox(seed=31, offers=600, latency_ms=40)
    account = make_account("main", "main", base_url, *sandbox.credentials("main"))
    env = subprocess_env()

    first = manage("sync_emag", "main", "--skip-checks", env=env)
    second = manage("sync_emag", "main", "--skip-checks", env=env)
    wait_until(
        lambda: SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists() or first.poll() is not None,
        timeout=60,
        message="a run to start",
    )
    api_client.force_authenticate(operator)
    during = api_client.post("/api/v1/emag/sync-runs/", {"account": "main"}, format="json")
    outputs = [process.communicate(timeout=120)[0] for process in (first, second)]

    assert sorted([first.returncode, second.returncode]) == [0, 4], outputs
    assert during.status_code == 409, during.content
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.COMPLETED
    # Every request eMAG received came from the one run.
    main_requests = [entry for entry in sandbox.request_log if entry.account == "main"]
    assert len(main_requests) == ApiCall.objects.count() == ApiCall.objects.filter(run=run).count()
    assert set(Offer.objects.filter(account=account).values_list("emag_id", flat=True)) == truth_ids(sandbox, "main")
    assert_within_emag_limits(sandbox.request_log)
    assert throttled_by_sandbox(sandbox.request_log) == []


def test_both_accounts_sync_side_by_side_without_interfering(http_sandbox):
    sandbox, base_url = http_sandbox(seed=32, offers=1200, latency_ms=20)
    accounts = {name: make_account(name, name, base_url, *sandbox.credentials(name)) for name in ("main", "fbe")}
    env = subprocess_env()

    started = time.monotonic()
    processes = [manage("sync_emag", name, "--skip-checks", env=env) for name in accounts]
    outputs = [process.communicate(timeout=180)[0] for process in processes]
    wall = time.monotonic() - started
    assert [process.returncode for process in processes] == [0, 0], outputs

    runs = {run.account.name: run for run in SyncRun.objects.select_related("account")}
    assert {run.status for run in runs.values()} == {SyncRun.Status.COMPLETED}
    # Side by side: most of each run happened while the other ran (one account never waits for the other).
    main, fbe = runs["main"], runs["fbe"]
    overlap = (min(main.finished_at, fbe.finished_at) - max(main.started_at, fbe.started_at)).total_seconds()
    assert overlap > 0.5 * min(main.duration_seconds, fbe.duration_seconds), (overlap, wall)

    for name, account in accounts.items():
        assert set(Offer.objects.filter(account=account).values_list("emag_id", flat=True)) == truth_ids(sandbox, name)
        assert ApiCall.objects.filter(account=account).exclude(run=runs[name]).count() == 0
    # A SKU both accounts sell is one product with one offer on each.
    skus = {name: {row["part_number"] for row in sandbox.catalogue(name)} for name in accounts}
    shared = skus["main"] & skus["fbe"]
    assert shared
    for product in Product.objects.filter(sku__in=shared).prefetch_related("offers__account"):
        assert sorted(offer.account.name for offer in product.offers.all()) == ["fbe", "main"]
    assert_within_emag_limits(sandbox.request_log)
    assert throttled_by_sandbox(sandbox.request_log) == []


def test_a_staff_edit_during_a_sync_survives_it_and_offers_stay_read_only(http_sandbox, admin_user):
    sandbox, base_url = http_sandbox(seed=33, offers=900, rate_limit=False, latency_ms=150)
    username, password = sandbox.credentials("main")
    account = make_account("main", "main", base_url, username, password)
    env = subprocess_env(EMAG_RATE_LIMIT_ENABLED="false")

    process = manage("sync_emag", "main", "--skip-checks", env=env)
    run = wait_until(
        lambda: (
            SyncRun.objects.filter(status=SyncRun.Status.RUNNING, last_committed_page__gte=2).first()
            or process.poll() is not None
        ),
        timeout=60,
        interval=0.02,
        message="the sync to commit two pages",
    )
    assert process.poll() is None, process.stdout.read()
    offer = Offer.objects.filter(account=account).order_by("emag_id").first()
    price_before = offer.sale_price

    staff = Client()
    staff.force_login(admin_user)
    edit = staff.post(
        f"/admin/emag/selleraccount/{account.pk}/change/",
        {
            "name": "main",
            "kind": "main",
            "platform": "custom",
            "base_url": base_url,
            "username": username,
            "password": "",  # empty keeps the stored password
            "is_active": "on",
            "sync_interval_minutes": "17",
        },
    )
    assert edit.status_code == 302, edit.content.decode()[:2000]
    assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.RUNNING  # the edit landed mid-run
    offer_edit = staff.post(f"/admin/emag/offer/{offer.pk}/change/", {"sale_price": "1.0000", "stock_total": "999"})
    assert offer_edit.status_code == 403

    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output

    account = SellerAccount.objects.get(pk=account.pk)
    assert account.sync_interval_minutes == 17  # staff's setting survived the sync
    assert account.get_password() == password
    assert account.last_sync_status == SyncRun.Status.COMPLETED  # and the sync's own columns were written
    assert account.last_sync_at >= run.started_at
    offer.refresh_from_db()
    assert offer.sale_price == price_before
    assert set(Offer.objects.filter(account=account).values_list("emag_id", flat=True)) == truth_ids(sandbox, "main")
