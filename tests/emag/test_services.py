from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from emag.models import SyncRun
from emag.services import (
    InvalidSyncParameters,
    SyncAlreadyRunning,
    cancel_sync,
    clean_parameters,
    delete_old_runs,
    start_sync,
    start_syncs,
    sweep_stale_runs,
)

pytestmark = pytest.mark.django_db


def queued_task_args():
    return [task.task["args"] for task in OrmQ.objects.all()]


def test_start_sync_records_a_queued_run_and_enqueues_its_id_only(account, sandbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start_sync(account, parameters={"max_pages": 2})

    run.refresh_from_db()
    assert run.status == SyncRun.Status.QUEUED
    assert run.trigger == SyncRun.Trigger.API
    assert run.parameters == {"max_pages": 2}
    assert run.task_id
    assert queued_task_args() == [(run.pk,)]
    assert sandbox.request_log == []  # nothing calls eMAG until the worker runs it


def test_a_second_start_raises_already_running_with_the_active_run(account, sandbox):
    first = start_sync(account)

    with pytest.raises(SyncAlreadyRunning) as caught:
        start_sync(account, trigger=SyncRun.Trigger.ADMIN)

    assert caught.value.run == first
    assert "already syncing" in str(caught.value)
    assert SyncRun.objects.count() == 1
    assert sandbox.request_log == []


def test_start_syncs_starts_every_active_account_and_skips_busy_ones(account, other_account, sandbox):
    busy = start_sync(other_account)
    other_account.refresh_from_db()

    runs = start_syncs(trigger=SyncRun.Trigger.SCHEDULE)

    assert [run.account for run in runs] == [account]
    assert SyncRun.objects.filter(account=other_account).get() == busy


def test_start_syncs_skips_inactive_accounts(account, other_account, sandbox):
    other_account.is_active = False
    other_account.save()

    runs = start_syncs()

    assert [run.account.name for run in runs] == ["main"]


@pytest.mark.parametrize(
    "parameters",
    [{"max_pages": 0}, {"page_size": 101}, {"page_size": "100"}, {"dry_run": "yes"}, {"since": "yesterday"}],
)
def test_bad_parameters_are_refused_before_anything_starts(account, parameters):
    with pytest.raises(InvalidSyncParameters):
        start_sync(account, parameters=parameters)

    assert not SyncRun.objects.exists()


def test_clean_parameters_keeps_what_is_valid():
    assert clean_parameters({"max_pages": 3, "page_size": 50, "dry_run": True, "resume": False}) == {
        "max_pages": 3,
        "page_size": 50,
        "dry_run": True,
        "resume": False,
    }


def test_cancelling_a_queued_run_cancels_it_at_once(account):
    run = start_sync(account)

    cancelled = cancel_sync(run)

    assert cancelled.status == SyncRun.Status.CANCELLED
    assert cancelled.finished_at is not None
    # The account is free again.
    assert start_sync(account).status == SyncRun.Status.QUEUED


def test_cancelling_a_running_run_asks_it_to_stop(account):
    run = SyncRun.objects.create(
        account=account, trigger="api", status=SyncRun.Status.RUNNING, heartbeat_at=timezone.now()
    )

    cancelled = cancel_sync(run)

    assert cancelled.status == SyncRun.Status.RUNNING
    assert cancelled.cancel_requested is True


def test_cancelling_a_finished_run_changes_nothing(account):
    run = SyncRun.objects.create(account=account, trigger="api", status=SyncRun.Status.COMPLETED)

    assert cancel_sync(run).status == SyncRun.Status.COMPLETED


def test_the_sweep_abandons_runs_with_a_stale_heartbeat_only(account, other_account, settings):
    old = timezone.now() - timedelta(seconds=settings.SYNC_HEARTBEAT_STALE_SECONDS + 30)
    stale = SyncRun.objects.create(
        account=account, trigger="api", status=SyncRun.Status.RUNNING, heartbeat_at=old, worker="gone:1:x"
    )
    fresh_queued = SyncRun.objects.create(account=other_account, trigger="api", status=SyncRun.Status.QUEUED)

    assert sweep_stale_runs() == 1

    stale.refresh_from_db()
    fresh_queued.refresh_from_db()
    assert stale.status == SyncRun.Status.ABANDONED
    assert "no heartbeat" in stale.error_message or "died" in stale.error_message
    assert fresh_queued.status == SyncRun.Status.QUEUED
    account.refresh_from_db()
    assert account.last_sync_status == SyncRun.Status.ABANDONED


def test_a_queued_run_no_worker_picked_up_is_abandoned_after_the_retry_window(account, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "retry": 60}
    run = SyncRun.objects.create(
        account=account,
        trigger="api",
        status=SyncRun.Status.QUEUED,
        created_at=timezone.now() - timedelta(seconds=60 + settings.SYNC_HEARTBEAT_STALE_SECONDS + 1),
    )

    assert sweep_stale_runs() == 1
    run.refresh_from_db()
    assert run.status == SyncRun.Status.ABANDONED


def test_old_finished_runs_are_deleted_and_recent_or_active_ones_kept(account, other_account, settings):
    long_ago = timezone.now() - timedelta(days=settings.SYNC_RUN_RETENTION_DAYS + 1)
    old = SyncRun.objects.create(account=account, trigger="api", status="completed", created_at=long_ago)
    recent = SyncRun.objects.create(account=account, trigger="api", status="failed")
    old_but_active = SyncRun.objects.create(account=other_account, trigger="api", status="running", created_at=long_ago)

    assert delete_old_runs() == 1

    assert not SyncRun.objects.filter(pk=old.pk).exists()
    assert SyncRun.objects.filter(pk__in=[recent.pk, old_but_active.pk]).count() == 2
