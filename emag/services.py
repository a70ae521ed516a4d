"""The sync services the three doors (command, API, admin) and the schedules call.

`start_sync` records a queued run and hands its id to django-q2; the worker's task
(`emag.tasks.run_sync`) runs `emag.sync.sync_offers` on it. At most one run per
account is queued or running at any time: a second start raises
`SyncAlreadyRunning(run=<the active run>)` at once, without calling eMAG.

A run whose holder died is found here too (`reap_stale_runs`): on PostgreSQL a
`running` row whose advisory lock nobody holds has a dead holder; everywhere, a
heartbeat older than SYNC_HEARTBEAT_STALE_SECONDS means the same. Such a run is
marked `abandoned`; the next run can resume it.
"""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from emag import locks
from emag.models import SellerAccount, SyncRun

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100
PARAMETER_NAMES = ("max_pages", "page_size", "dry_run", "resume")


class SyncAlreadyRunning(Exception):
    """A sync of this account is already queued or running; nothing was started."""

    def __init__(self, run: SyncRun | None = None, *, account: SellerAccount | None = None) -> None:
        self.run = run
        self.account = account if account is not None else (run.account if run is not None else None)
        name = getattr(self.account, "name", "?")
        if run is not None:
            message = f"Account {name} is already syncing (run #{run.pk}, {run.status})."
        else:
            message = f"Account {name} is already syncing."
        super().__init__(message)


class InvalidSyncParameters(ValueError):
    """Sync parameters that MagFlow cannot honour, with the reason."""


def clean_parameters(parameters: dict[str, Any] | None) -> dict[str, Any]:
    """Check the parameters of a sync (max_pages, page_size, dry_run, resume); raise InvalidSyncParameters."""
    parameters = dict(parameters or {})
    unknown = sorted(set(parameters) - set(PARAMETER_NAMES))
    if unknown:
        raise InvalidSyncParameters(
            f"Unknown sync parameter(s): {', '.join(unknown)}; known: {', '.join(PARAMETER_NAMES)}."
        )
    cleaned: dict[str, Any] = {}
    max_pages = parameters.get("max_pages")
    if max_pages is not None:
        if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
            raise InvalidSyncParameters(f"max_pages must be a whole number of at least 1, got {max_pages!r}.")
        cleaned["max_pages"] = max_pages
    page_size = parameters.get("page_size")
    if page_size is not None:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidSyncParameters(
                f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE} (eMAG's limit), got {page_size!r}."
            )
        cleaned["page_size"] = page_size
    for name in ("dry_run", "resume"):
        value = parameters.get(name)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise InvalidSyncParameters(f"{name} must be true or false, got {value!r}.")
        cleaned[name] = value
    return cleaned


# --- Finding and reaping active runs -----------------------------------------------------------------------------


def find_active_run(account: SellerAccount, kind: str = SyncRun.Kind.OFFERS) -> SyncRun | None:
    return (
        SyncRun.objects.select_related("account")
        .filter(account=account, kind=kind, status__in=SyncRun.ACTIVE_STATUSES)
        .order_by("-created_at", "-id")
        .first()
    )


def queued_stale_seconds() -> int:
    """A queued run no worker picked up within django-q2's retry window will not be picked up."""
    return int(settings.Q_CLUSTER.get("retry", 3900)) + int(settings.SYNC_HEARTBEAT_STALE_SECONDS)


def stale_reason(run: SyncRun, *, now: Any = None, lock_is_ours: bool = False) -> str | None:
    """Why an active run has no live holder, or None when it may still be alive.

    `lock_is_ours`: the caller holds this account's advisory lock (PostgreSQL), so a
    `running` row cannot have a live holder (holders take the lock before `running`).
    """
    now = now or timezone.now()
    if run.status == SyncRun.Status.QUEUED:
        if run.created_at < now - timedelta(seconds=queued_stale_seconds()):
            return "queued and never picked up by a worker"
        return None
    if run.status != SyncRun.Status.RUNNING:
        return None
    if lock_is_ours:
        return "its process died (its lock was free)"
    if locks.uses_advisory_locks() and locks.is_locked_elsewhere(run.account_id, run.kind) is False:
        # Holders take the lock before their row becomes `running` and let it go only after
        # the row's end state: a running row with a free lock has lost its process, however
        # fresh its heartbeat looks.
        return "its process died (its lock was free)"
    limit = now - timedelta(seconds=settings.SYNC_HEARTBEAT_STALE_SECONDS)
    beat = run.heartbeat_at or run.started_at or run.created_at
    if beat < limit:
        return f"no heartbeat for more than {settings.SYNC_HEARTBEAT_STALE_SECONDS} s"
    return None


def abandon_run(run: SyncRun, reason: str) -> bool:
    """Mark an active run `abandoned` (only if it is still in the state we saw). True when it was marked."""
    now = timezone.now()
    marked = SyncRun.objects.filter(pk=run.pk, status=run.status, worker=run.worker).update(
        status=SyncRun.Status.ABANDONED,
        finished_at=now,
        error_code="abandoned",
        error_message=f"Abandoned: {reason}. The next run can resume from page {run.last_committed_page + 1}.",
    )
    if marked:
        logger.warning("sync run #%s of account %s abandoned: %s", run.pk, run.account_id, reason)
        SellerAccount.objects.filter(pk=run.account_id).update(
            last_sync_at=now, last_sync_status=SyncRun.Status.ABANDONED
        )
        run.refresh_from_db()
    return bool(marked)


def reap_stale_runs(account: SellerAccount | None = None, *, lock_is_ours: bool = False) -> list[SyncRun]:
    """Mark every active run without a live holder as abandoned; return them."""
    runs = SyncRun.objects.select_related("account").filter(status__in=SyncRun.ACTIVE_STATUSES)
    if account is not None:
        runs = runs.filter(account=account)
    now = timezone.now()
    reaped = []
    for run in runs:
        reason = stale_reason(run, now=now, lock_is_ours=lock_is_ours and account is not None)
        if reason and abandon_run(run, reason):
            reaped.append(run)
    return reaped


def sweep_stale_runs() -> int:
    """The schedule's sweep: abandon every run whose holder is gone. Returns how many."""
    return len(reap_stale_runs())


# --- Starting and cancelling -------------------------------------------------------------------------------------


def start_sync(
    account: SellerAccount,
    trigger: str = SyncRun.Trigger.API,
    parameters: dict[str, Any] | None = None,
) -> SyncRun:
    """Record a queued offer sync of the account and enqueue its task; SyncAlreadyRunning if one is active."""
    cleaned = clean_parameters(parameters)
    reap_stale_runs(account)
    active = find_active_run(account)
    if active is not None:
        raise SyncAlreadyRunning(run=active)
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                account=account,
                kind=SyncRun.Kind.OFFERS,
                trigger=trigger,
                parameters=cleaned,
                is_dry_run=bool(cleaned.get("dry_run")),
                status=SyncRun.Status.QUEUED,
            )
            # After commit: the worker must find the row when it picks the task up.
            transaction.on_commit(lambda: enqueue_run(run))
    except IntegrityError:
        # Another start won the race; the constraint is the last word.
        raise SyncAlreadyRunning(run=find_active_run(account), account=account)
    logger.info("sync run #%s of account %s queued (%s)", run.pk, account.name, trigger)
    return run


def enqueue_run(run: SyncRun) -> str:
    """Hand the run's id (never credentials) to django-q2; store the task id on the run."""
    from django_q.tasks import async_task

    task_id = async_task(
        "emag.tasks.run_sync",
        run.pk,
        task_name=f"sync-offers-{run.account.name}-run-{run.pk}",
        group=f"sync-offers-{run.account.name}",
    )
    SyncRun.objects.filter(pk=run.pk).update(task_id=str(task_id or "")[:64])
    run.task_id = str(task_id or "")[:64]
    return run.task_id


def start_syncs(
    accounts: Any = None,
    trigger: str = SyncRun.Trigger.API,
    parameters: dict[str, Any] | None = None,
) -> list[SyncRun]:
    """Start one sync per account (default: every active account). Accounts already syncing are skipped.

    Returns the runs started; parameters are checked once, before anything starts.
    """
    clean_parameters(parameters)
    if accounts is None:
        accounts = SellerAccount.objects.filter(is_active=True).order_by("name")
    runs = []
    for account in accounts:
        try:
            runs.append(start_sync(account, trigger=trigger, parameters=parameters))
        except SyncAlreadyRunning as exc:
            logger.info("%s", exc)
    return runs


def cancel_sync(run: SyncRun) -> SyncRun:
    """Ask a run to stop. A queued run is cancelled at once; a running one stops after its current page."""
    now = timezone.now()
    queued = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.CANCELLED,
        cancel_requested=True,
        finished_at=now,
        error_code="cancelled",
        error_message="Cancelled before it started.",
    )
    if queued:
        SellerAccount.objects.filter(pk=run.account_id).update(
            last_sync_at=now, last_sync_status=SyncRun.Status.CANCELLED
        )
    else:
        SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(cancel_requested=True)
    run.refresh_from_db()
    return run


# --- Retention ---------------------------------------------------------------------------------------------------


def delete_old_runs(older_than_days: int | None = None) -> int:
    """Delete finished runs (with their pages and errors) older than SYNC_RUN_RETENTION_DAYS. Returns how many."""
    days = settings.SYNC_RUN_RETENTION_DAYS if older_than_days is None else older_than_days
    if days < 1:
        raise ValueError("Sync runs are kept at least one day.")
    cutoff = timezone.now() - timedelta(days=days)
    old = SyncRun.objects.filter(created_at__lt=cutoff).exclude(status__in=SyncRun.ACTIVE_STATUSES)
    # A run that a newer run resumed is still the history of that newer one: keep it while the newer is kept.
    old = old.exclude(resumed_by__created_at__gte=cutoff)
    deleted = 0
    for ids in _chunks(list(old.values_list("pk", flat=True)), 500):
        deleted += SyncRun.objects.filter(pk__in=ids).delete()[1].get("emag.SyncRun", 0)
    return deleted


def _chunks(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]
