"""Crashes: real processes killed with SIGKILL in the middle of a sync, then restarted.

- `manage.py sync_emag` (both accounts at once) killed at a seeded page: `--resume` completes the
  work, the dead runs are `abandoned`, no offer is stored twice, no lock is left.
- A django-q2 cluster (`manage.py qcluster`, ORM broker) killed while its worker runs the sync task:
  after a restart the broker hands the task out again and the same run completes; no lock, no queue
  row and no active run are left.
- A task that kills its worker every time stops after SYNC_MAX_ATTEMPTS with a clear `failed` status.

The subprocesses share the test database, so these run on PostgreSQL (CI) and are skipped on SQLite.
The sandbox answers over HTTP from this process, slowly enough (latency) that a kill lands mid-run.
"""

import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap

import pytest

from emag.models import Offer, Product, SyncPage, SyncRun
from emag.services import start_sync
from tests.reliability.conftest import (
    ROOT,
    advisory_locks_held,
    make_account,
    manage,
    requires_postgresql,
    subprocess_env,
    wait_until,
)

pytestmark = [pytest.mark.slow, requires_postgresql, pytest.mark.django_db(transaction=True)]

SEED = 20 + int(os.environ.get("RELIABILITY_SEED", "0"))


def kill_group(process) -> None:
    """SIGKILL the process and every child it started (qcluster forks its workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)


def queue_rows() -> int:
    from django_q.models import OrmQ

    return OrmQ.objects.count()


def assert_matches_truth(account, sandbox) -> None:
    truth = {row["id"]: row for row in sandbox.catalogue(account.name)}
    offers = list(Offer.objects.filter(account=account).select_related("product"))
    ids = [offer.emag_id for offer in offers]
    assert len(ids) == len(set(ids)), "an offer is stored twice"
    assert set(ids) == set(truth)
    for offer in offers:
        row = truth[offer.emag_id]
        assert offer.product.sku == row["part_number"]
        assert str(offer.sale_price) == row["sale_price"]
        assert offer.is_present


def assert_nothing_left() -> None:
    assert not SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES).exists()
    wait_until(lambda: advisory_locks_held() == 0, timeout=10, message="advisory locks to be released")
    assert queue_rows() == 0


def test_sync_emag_of_both_accounts_killed_at_a_seeded_page_resumes_without_duplicates(http_sandbox):
    rng = random.Random(SEED)
    kill_at = rng.randint(3, 8)
    sandbox, base_url = http_sandbox(seed=SEED, offers=2500, rate_limit=False, latency_ms=60)
    accounts = [make_account(name, name, base_url, *sandbox.credentials(name)) for name in sandbox.account_names()]
    env = subprocess_env(EMAG_RATE_LIMIT_ENABLED="false", SYNC_HEARTBEAT_STALE_SECONDS="3")

    victim = manage("sync_emag", "--skip-checks", env=env)
    wait_until(
        lambda: (
            victim.poll() is not None
            or SyncRun.objects.filter(last_committed_page__gte=kill_at).count() == len(accounts)
        ),
        timeout=120,
        interval=0.02,
        message=f"both runs to reach page {kill_at}",
    )
    assert victim.poll() is None, victim.stdout.read()
    kill_group(victim)

    dead = {run.account_id: run for run in SyncRun.objects.all()}
    assert all(run.status == SyncRun.Status.RUNNING for run in dead.values())
    assert all(kill_at <= run.last_committed_page < 25 for run in dead.values())
    # PostgreSQL ends the dead sessions, and their advisory locks with them.
    wait_until(lambda: advisory_locks_held() == 0, timeout=10, message="the dead process's locks to go")

    resume = manage("sync_emag", "--skip-checks", "--resume", env=env)
    output, _ = resume.communicate(timeout=180)
    assert resume.returncode == 0, output

    for account in accounts:
        killed = SyncRun.objects.get(pk=dead[account.pk].pk)
        assert killed.status == SyncRun.Status.ABANDONED
        assert killed.error_message
        resumed = SyncRun.objects.get(resumed_from=killed)
        assert resumed.status == SyncRun.Status.COMPLETED
        assert resumed.fetched == 2500  # carried pages and new pages, each counted once
        # The resumed run read only the pages the dead one had not committed.
        new_pages = set(SyncPage.objects.filter(run=resumed).values_list("number", flat=True))
        assert min(new_pages) == killed.last_committed_page + 1
        assert_matches_truth(account, sandbox)
    skus = list(Product.objects.values_list("sku", flat=True))
    assert len(skus) == len(set(skus))
    assert_nothing_left()


def start_cluster(env: dict) -> object:
    cluster = manage("qcluster", env=env)
    return cluster


CLUSTER_ENV = {
    "EMAG_RATE_LIMIT_ENABLED": "false",
    "Q_WORKERS": "1",
    # A killed worker's task comes back after `retry` seconds; `timeout` stays below it.
    "Q_TIMEOUT": "12",
    "Q_RETRY": "14",
    "SYNC_HEARTBEAT_STALE_SECONDS": "3",
}


def test_a_killed_qcluster_finishes_the_same_run_after_a_restart(http_sandbox):
    rng = random.Random(SEED + 1)
    kill_at = rng.randint(2, 4)
    sandbox, base_url = http_sandbox(seed=SEED, offers=900, rate_limit=False, latency_ms=120)
    account = make_account("main", "main", base_url, *sandbox.credentials("main"))
    env = subprocess_env(**CLUSTER_ENV)

    cluster = start_cluster(env)
    try:
        run = start_sync(account, trigger=SyncRun.Trigger.API)
        assert queue_rows() == 1
        wait_until(
            lambda: (
                cluster.poll() is not None
                or SyncRun.objects.filter(pk=run.pk, last_committed_page__gte=kill_at).exists()
            ),
            timeout=90,
            interval=0.02,
            message=f"the task to reach page {kill_at}",
        )
        assert cluster.poll() is None, cluster.stdout.read()
    finally:
        kill_group(cluster)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING
    assert run.attempts == 1
    committed = run.last_committed_page
    assert committed < 9
    assert queue_rows() == 1  # the task is still owed

    cluster = start_cluster(env)
    try:
        wait_until(
            lambda: SyncRun.objects.get(pk=run.pk).status not in SyncRun.ACTIVE_STATUSES + (SyncRun.Status.ABANDONED,),
            timeout=90,
            interval=0.2,
            message="the restarted cluster to finish the run",
        )
        wait_until(lambda: queue_rows() == 0, timeout=20, message="the queue row to be acknowledged")
    finally:
        kill_group(cluster)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.COMPLETED, (run.status, run.error_message)
    assert run.attempts == 2
    assert run.fetched == 900
    # The second attempt continued the same run: one row, every page once.
    assert SyncRun.objects.count() == 1
    numbers = list(SyncPage.objects.filter(run=run).values_list("number", flat=True))
    assert sorted(numbers) == list(range(1, 10))
    assert_matches_truth(account, sandbox)
    assert_nothing_left()


KILLER = textwrap.dedent(
    """
    # qcluster whose workers SIGKILL themselves when the sync commits page 2: a task that kills
    # its worker every time, as an out-of-memory kill would.
    import os, signal, sys
    import django
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "magflow.settings")
    django.setup()
    from emag import sync

    import time
    original = sync._Engine._store_page

    def store_then_die(self, number, *args, **kwargs):
        if number == 2:
            # Page 1 may still be in another writer's hands: let it commit, then die.
            while 1 not in self.committed:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, number, *args, **kwargs)

    sync._Engine._store_page = store_then_die
    from django.core.management import execute_from_command_line
    execute_from_command_line(["manage.py", "qcluster"])
    """
)


def test_a_task_that_kills_its_worker_every_time_fails_after_the_configured_attempts(http_sandbox, settings):
    sandbox, base_url = http_sandbox(seed=SEED, offers=500, rate_limit=False, latency_ms=20)
    account = make_account("main", "main", base_url, *sandbox.credentials("main"))
    env = subprocess_env(
        **{**CLUSTER_ENV, "Q_TIMEOUT": "4", "Q_RETRY": "5", "SYNC_MAX_ATTEMPTS": "3", "Q_MAX_ATTEMPTS": "10"}
    )
    cluster = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", KILLER],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        run = start_sync(account, trigger=SyncRun.Trigger.API)
        wait_until(
            lambda: (
                cluster.poll() is not None
                or SyncRun.objects.get(pk=run.pk).status not in SyncRun.ACTIVE_STATUSES + (SyncRun.Status.ABANDONED,)
            ),
            timeout=120,
            interval=0.2,
            message="the run to end",
        )
        assert cluster.poll() is None, cluster.stdout.read()
        wait_until(lambda: queue_rows() == 0, timeout=30, message="the task to leave the queue")
    finally:
        kill_group(cluster)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.error_code == "too_many_attempts"
    assert "3 attempts" in run.error_message
    assert run.attempts == 3
    account.refresh_from_db()
    assert account.last_sync_status == SyncRun.Status.FAILED
    # Every attempt died before page 2 committed; page 1 is there once, nothing else.
    assert list(SyncPage.objects.filter(run=run).values_list("number", flat=True)) == [1]
    assert Offer.objects.filter(account=account).count() == 100
    assert_nothing_left()
