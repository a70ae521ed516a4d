"""Never two syncs of one account at once, whoever starts them: real threads and processes on PostgreSQL."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from emag import locks
from emag.models import Offer, SellerAccount, SyncRun
from emag.sandbox import Sandbox
from emag.services import SyncAlreadyRunning, start_sync
from emag.sync import sync_offers
from tests.emag.sync_helpers import quick_client

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgres_only(settings):
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks and real concurrency need PostgreSQL")
    settings.EMAG_RATE_LIMIT_ENABLED = False


class SlowClient:
    """Builds real clients whose page reads take a little while, so the first sync is still running."""

    def __init__(self, delay):
        self.delay = delay

    def __call__(self, account):
        client = quick_client(account)
        read = client.read_offers

        def slow_read(**kwargs):
            time.sleep(self.delay)
            return read(**kwargs)

        client.read_offers = slow_read
        return client


def test_two_syncs_of_one_account_started_together_one_runs_the_other_is_refused_without_calling_emag(account, sandbox):
    sandbox.set_rate_limit(False)
    barrier = threading.Barrier(2)
    outcomes = {}
    make_client = SlowClient(0.1)

    def start(label):
        try:
            client = make_client(SellerAccount.objects.get(pk=account.pk))
            barrier.wait()
            started = time.monotonic()
            try:
                outcomes[label] = sync_offers(account, client=client)
            except SyncAlreadyRunning as exc:
                outcomes[label] = exc
            outcomes[f"{label}-seconds"] = time.monotonic() - started
        finally:
            connection.close()

    threads = [threading.Thread(target=start, args=(label,)) for label in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    runs = [outcomes[label] for label in ("a", "b") if isinstance(outcomes[label], SyncRun)]
    refused = [label for label in ("a", "b") if isinstance(outcomes[label], SyncAlreadyRunning)]
    assert len(runs) == 1 and len(refused) == 1
    run = runs[0]
    assert run.status == SyncRun.Status.COMPLETED
    assert outcomes[f"{refused[0]}-seconds"] < 0.5  # answered at once, not after the other finished
    # The sandbox saw only the winner's requests: the refused sync made no eMAG call.
    assert len([e for e in sandbox.request_log if e.account == "main"]) == run.requests_made == 5
    assert SyncRun.objects.count() == 1
    assert Offer.objects.filter(account=account).count() == 250


def test_a_start_from_the_api_during_a_running_sync_is_refused(account, sandbox):
    sandbox.set_rate_limit(False)
    started = threading.Event()
    refusal = {}

    def on_page(run):
        if not started.is_set():
            started.set()
            # Another door (the API) tries while this sync is mid-run.
            thread = threading.Thread(target=try_api)
            thread.start()
            thread.join()

    def try_api():
        try:
            start_sync(SellerAccount.objects.get(pk=account.pk))
        except SyncAlreadyRunning as exc:
            refusal["run"] = exc.run
        finally:
            connection.close()

    run = sync_offers(account, client=quick_client(account), progress=on_page)

    assert refusal["run"].pk == run.pk
    assert SyncRun.objects.count() == 1


def test_the_lock_is_held_while_running_and_free_after(account, sandbox):
    sandbox.set_rate_limit(False)
    seen = []

    def on_page(run):
        checker = threading.Thread(
            target=lambda: (seen.append(locks.is_locked_elsewhere(account.pk)), connection.close())
        )
        checker.start()
        checker.join()

    sync_offers(account, client=quick_client(account), progress=on_page)

    assert seen and all(seen)
    assert locks.is_locked_elsewhere(account.pk) is False


@pytest.mark.slow
def test_two_processes_started_together_one_syncs_the_other_exits_4(account, tmp_path):
    sandbox = Sandbox(seed=5, offers=300, rate_limit=False, latency_ms=100)
    server = sandbox.serve(port=0)
    try:
        SellerAccount.objects.filter(pk=account.pk).update(base_url=server.base_url)
        s = connection.settings_dict
        env = {
            **os.environ,
            "DEBUG": "true",
            "EMAG_RATE_LIMIT_ENABLED": "false",
            "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}",
        }
        command = [sys.executable, str(ROOT / "manage.py"), "sync_emag", "--skip-checks", "main", "--quiet"]
        processes = [
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)
        ]
        results = [process.communicate(timeout=120) for process in processes]
        codes = sorted(process.returncode for process in processes)

        assert codes == [0, 4], results
        run = SyncRun.objects.get()
        assert run.status == SyncRun.Status.COMPLETED
        assert len([e for e in sandbox.request_log if e.account == "main"]) == run.requests_made
        assert Offer.objects.filter(account=account).count() == 300
    finally:
        server.stop()
