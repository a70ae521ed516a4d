"""django-q2 entry points. Thin: they take ids (never credentials), load rows and call the services.

Attempts are counted by MagFlow (SyncRun.attempts), not by django-q2, which cannot
count a worker the OS killed: when the broker hands a task out again after its
`retry` window, `run_sync` finds its run abandoned (or running with a dead holder)
and continues the same run from its last committed page, unless the run has already
been tried SYNC_MAX_ATTEMPTS times: then it is marked failed with that reason.
"""

import logging

from django.conf import settings
from django.utils import timezone

from emag import services
from emag.models import SellerAccount, SyncRun
from emag.sync import RunNotClaimable, sync_offers

logger = logging.getLogger(__name__)


def run_sync(run_id: int) -> str:
    """Execute a queued sync run (or continue one whose worker died). Returns a one-line outcome."""
    run = SyncRun.objects.select_related("account").filter(pk=run_id).first()
    if run is None:
        return f"run #{run_id} no longer exists"
    # A worker that died left the run `running`: find out now rather than at the next sweep.
    services.reap_stale_runs(run.account)
    run.refresh_from_db()
    if run.status in (SyncRun.Status.QUEUED, SyncRun.Status.ABANDONED) and run.attempts >= settings.SYNC_MAX_ATTEMPTS:
        now = timezone.now()
        gave_up = SyncRun.objects.filter(pk=run.pk, status=run.status).update(
            status=SyncRun.Status.FAILED,
            finished_at=now,
            error_code="too_many_attempts",
            error_message=f"Gave up after {run.attempts} attempts (SYNC_MAX_ATTEMPTS={settings.SYNC_MAX_ATTEMPTS}); "
            "each one was interrupted. Start a new sync with resume to continue from the last committed page.",
        )
        if gave_up:
            SellerAccount.objects.filter(pk=run.account_id).update(
                last_sync_at=now, last_sync_status=SyncRun.Status.FAILED
            )
        return f"run #{run.pk} failed: too many attempts"
    if not run.account.is_active and run.trigger == SyncRun.Trigger.SCHEDULE:
        SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(
            status=SyncRun.Status.CANCELLED,
            finished_at=timezone.now(),
            error_code="account_inactive",
            error_message="The account was disabled before the scheduled sync ran.",
        )
        return f"run #{run.pk} cancelled: account inactive"
    if run.status == SyncRun.Status.QUEUED and run.cancel_requested:
        return f"run #{run.pk} was cancelled"
    try:
        run = sync_offers(run.account, trigger=run.trigger, run=run)
    except RunNotClaimable as exc:
        return str(exc)
    except services.SyncAlreadyRunning as exc:
        # Another process holds the account (possible only around a takeover): this run cannot go on.
        SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(
            status=SyncRun.Status.FAILED,
            finished_at=timezone.now(),
            error_code="already_running",
            error_message=str(exc),
        )
        return f"run #{run.pk}: {exc}"
    return f"run #{run.pk} {run.status}: {run.fetched} fetched, {run.rejected} rejected"


def scheduled_sync(account_id: int) -> str:
    """The hourly schedule of one account: start a sync unless one is running or the account is off."""
    account = SellerAccount.objects.filter(pk=account_id).first()
    if account is None or not account.is_active:
        return f"account #{account_id} is gone or inactive; nothing started"
    try:
        run = services.start_sync(account, trigger=SyncRun.Trigger.SCHEDULE)
    except services.SyncAlreadyRunning as exc:
        return str(exc)
    return f"run #{run.pk} queued for {account.name}"


def sweep_stale_runs() -> str:
    return f"{services.sweep_stale_runs()} stale run(s) marked abandoned"


def cleanup_old_runs() -> str:
    deleted = services.delete_old_runs()
    return f"{deleted} sync run(s) older than {settings.SYNC_RUN_RETENTION_DAYS} days deleted"


def cleanup_old_api_calls() -> str:
    from monitoring.services import prune_api_calls

    deleted = prune_api_calls(settings.API_CALL_RETENTION_DAYS)
    return f"{deleted} API call row(s) older than {settings.API_CALL_RETENTION_DAYS} days folded into rollups"
