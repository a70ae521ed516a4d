from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from emag import tasks
from emag.management.commands.setup_schedules import account_offset_seconds
from emag.models import Offer, SyncPage, SyncRun
from emag.services import start_sync
from emag.sync import sync_offers
from tests.emag.sync_helpers import FlakyClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_rate_limit(settings, sandbox):
    settings.EMAG_RATE_LIMIT_ENABLED = False
    sandbox.set_rate_limit(False)


def test_run_sync_executes_a_queued_run_with_its_parameters(account, sandbox):
    run = start_sync(account, parameters={"max_pages": 2, "page_size": 50})

    outcome = tasks.run_sync(run.pk)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.COMPLETED
    assert run.attempts == 1
    assert run.fetched == 100
    assert run.pages_done == 2
    assert Offer.objects.filter(account=account).count() == 100
    assert f"run #{run.pk} completed" in outcome


def test_run_sync_of_a_finished_run_does_nothing(account, sandbox):
    run = start_sync(account)
    tasks.run_sync(run.pk)
    requests = len(sandbox.request_log)

    tasks.run_sync(run.pk)  # the broker delivered it twice

    assert len(sandbox.request_log) == requests
    assert SyncRun.objects.count() == 1


def test_a_retried_task_continues_the_same_run_from_its_last_committed_page(account, sandbox, settings):
    run = start_sync(account)
    # The first attempt got one page in, then its worker was killed (simulated: page 2 kept failing
    # and the row was left running with a stale heartbeat).
    sync_offers(account, run=run, client=FlakyClient(account, failing_pages=[2, 3]))
    stale = timezone.now() - timedelta(seconds=settings.SYNC_HEARTBEAT_STALE_SECONDS + 5)
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.RUNNING, heartbeat_at=stale, finished_at=None)
    # Page 1 committed, 2 and 3 failed, the empty page 4 committed after the gap.
    assert sorted(SyncPage.objects.filter(run=run).values_list("number", flat=True)) == [1, 4]

    tasks.run_sync(run.pk)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.COMPLETED
    assert run.attempts == 2
    assert sorted(SyncPage.objects.filter(run=run).values_list("number", flat=True)) == [1, 2, 3]
    assert run.fetched == 250 == run.created
    assert Offer.objects.filter(account=account).count() == 250
    assert SyncRun.objects.count() == 1


def test_a_run_that_reached_the_maximum_attempts_is_failed_instead_of_run_again(account, sandbox, settings):
    run = start_sync(account)
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.ABANDONED, attempts=settings.SYNC_MAX_ATTEMPTS)

    tasks.run_sync(run.pk)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.error_code == "too_many_attempts"
    assert f"{settings.SYNC_MAX_ATTEMPTS} attempts" in run.error_message
    assert sandbox.request_log == []


def test_a_cancelled_queued_run_is_not_run(account, sandbox):
    from emag.services import cancel_sync

    run = start_sync(account)
    cancel_sync(run)

    tasks.run_sync(run.pk)

    assert sandbox.request_log == []


def test_the_schedule_starts_a_sync_unless_one_is_running(account, sandbox):
    first = tasks.scheduled_sync(account.pk)
    second = tasks.scheduled_sync(account.pk)

    run = SyncRun.objects.get()
    assert run.trigger == SyncRun.Trigger.SCHEDULE
    assert f"run #{run.pk} queued" in first
    assert "already syncing" in second


def test_the_schedule_skips_an_inactive_account(account):
    account.is_active = False
    account.save()

    assert "inactive" in tasks.scheduled_sync(account.pk)
    assert not SyncRun.objects.exists()


def test_setup_schedules_declares_every_schedule_once_at_non_round_times(account, other_account):
    call_command("setup_schedules", stdout=StringIO())
    first = {s.name: (s.func, s.args, s.schedule_type, s.minutes, s.next_run) for s in Schedule.objects.all()}
    call_command("setup_schedules", stdout=StringIO())
    second = {s.name: (s.func, s.args, s.schedule_type, s.minutes, s.next_run) for s in Schedule.objects.all()}

    assert first == second
    assert Schedule.objects.count() == 7
    syncs = Schedule.objects.filter(func="emag.tasks.scheduled_sync")
    assert sorted(int(s.args) for s in syncs) == sorted([account.pk, other_account.pk])
    for schedule in syncs:
        assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 60
        assert schedule.next_run.second != 0
        assert schedule.next_run > timezone.now()
    assert {s.func for s in Schedule.objects.all()} == {
        "emag.tasks.scheduled_sync",
        "emag.tasks.sweep_stale_runs",
        "emag.tasks.cleanup_old_runs",
        "emag.tasks.cleanup_old_api_calls",
        "monitoring.backup.run_scheduled_backup",
        "accounts.tasks.flush_expired_tokens",
    }


def test_every_scheduled_function_can_be_imported(account):
    from django.utils.module_loading import import_string

    call_command("setup_schedules", stdout=StringIO())

    for schedule in Schedule.objects.all():
        assert callable(import_string(schedule.func)), schedule.func


def test_the_token_flush_task_deletes_expired_refresh_tokens(account, django_user_model):
    from datetime import timedelta

    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from accounts.tasks import flush_expired_tokens

    user = django_user_model.objects.create_user(email="someone@example.com", password="x")
    now = timezone.now()
    OutstandingToken.objects.create(
        user=user, jti="old", token="t1", created_at=now - timedelta(days=9), expires_at=now - timedelta(days=2)
    )
    OutstandingToken.objects.create(
        user=user, jti="new", token="t2", created_at=now, expires_at=now + timedelta(days=7)
    )

    flush_expired_tokens()

    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == ["new"]


def test_setup_schedules_removes_the_schedule_of_a_disabled_account(account, other_account):
    call_command("setup_schedules", stdout=StringIO())
    other_account.is_active = False
    other_account.save()

    out = StringIO()
    call_command("setup_schedules", stdout=out)

    assert [s.args for s in Schedule.objects.filter(func="emag.tasks.scheduled_sync")] == [str(account.pk)]
    assert "removed" in out.getvalue()


def test_account_offsets_never_fall_on_a_round_minute():
    for account_id in range(1, 500):
        assert account_offset_seconds(account_id, 60) % 60 != 0


def test_the_cleanup_tasks_report_what_they_did():
    assert "sync run(s)" in tasks.cleanup_old_runs()
    assert "API call" in tasks.cleanup_old_api_calls()
    assert "stale run(s)" in tasks.sweep_stale_runs()
