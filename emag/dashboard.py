"""Read queries behind the admin dashboard: per-account sync state, offer figures, health, chart series.

A handful of queries whatever the catalogue size: one grouped aggregate over the offers, and per
account its active run and its last 30 runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from emag import selectors
from emag.models import SellerAccount, SyncRun

CHART_RUNS = 30
SELLABLE_VALIDATION_STATUSES = (3, 9, 11, 12)


@dataclass
class RunProgress:
    """Where a queued or running sync stands, and how long it should still take."""

    run: SyncRun
    pages_done: int
    pages_expected: int | None
    fetched: int
    expected_total: int | None
    elapsed_seconds: float | None
    rate_per_second: float | None
    seconds_left: float | None
    percent: int | None


@dataclass
class Health:
    level: str  # ok, warning, error, idle
    label: str
    reason: str


@dataclass
class AccountSummary:
    account: SellerAccount
    last_run: SyncRun | None
    active_run: SyncRun | None
    progress: RunProgress | None
    offers_total: int
    offers_active: int
    offers_sellable: int
    offers_out_of_stock: int
    health: Health
    chart: list[dict] = field(default_factory=list)


def run_progress(run: SyncRun, now: datetime | None = None) -> RunProgress:
    now = now or timezone.now()
    page_size = int((run.parameters or {}).get("page_size") or settings.SYNC_PAGE_SIZE)
    expected = run.expected_total
    pages_expected = max(1, math.ceil(expected / page_size)) if expected is not None else None
    if pages_expected is not None and run.pages_done > pages_expected:
        # The last read is often an empty page past the end, or the catalogue grew during the run.
        pages_expected = run.pages_done
    end = run.finished_at or now
    elapsed = (end - run.started_at).total_seconds() if run.started_at else None
    rate = run.fetched / elapsed if elapsed and elapsed > 0 and run.fetched else None
    seconds_left = None
    percent = None
    if expected:
        percent = min(100, int(100 * run.fetched / expected))
        if rate:
            seconds_left = max(0.0, (expected - run.fetched) / rate)
    elif expected == 0:
        percent = 100
    return RunProgress(
        run=run,
        pages_done=run.pages_done,
        pages_expected=pages_expected,
        fetched=run.fetched,
        expected_total=expected,
        elapsed_seconds=elapsed,
        rate_per_second=rate,
        seconds_left=seconds_left,
        percent=percent,
    )


def account_health(account: SellerAccount, last_run: SyncRun | None, now: datetime | None = None) -> Health:
    """One badge that says whether this account's data can be trusted right now."""
    now = now or timezone.now()
    if not account.is_active:
        return Health("idle", "Inactive", "The account is switched off; no sync runs.")
    if account.auth_failed_at:
        return Health("error", "Login refused", "eMAG refused the credentials; fix the password and test again.")
    if last_run is None:
        return Health("warning", "Never synced", "No sync has finished yet.")
    if last_run.status in (SyncRun.Status.FAILED, SyncRun.Status.ABANDONED):
        message = last_run.error_message or last_run.get_status_display()
        return Health("error", "Last sync failed", message[:200])
    # Twice the schedule's interval (and at least an hour) without a good sync means the schedule is not running.
    stale_after = timedelta(minutes=max(60, 2 * account.sync_interval_minutes))
    if not account.last_sync_at or now - account.last_sync_at > stale_after:
        return Health("warning", "Out of date", f"No sync finished in the last {_human_delta(stale_after)}.")
    if last_run.status == SyncRun.Status.PARTIAL:
        return Health("warning", "Partial", "The last sync did not read every page.")
    if last_run.status == SyncRun.Status.CANCELLED:
        return Health("warning", "Cancelled", "The last sync was cancelled before it finished.")
    if last_run.status == SyncRun.Status.COMPLETED_WITH_REJECTIONS:
        return Health("warning", "Rejections", f"The last sync rejected {last_run.rejected} record(s).")
    return Health("ok", "Healthy", "The last sync read every offer.")


def chart_series(runs: list[SyncRun]) -> list[dict]:
    """Oldest first: each finished run's duration, rejections, and the offers eMAG held then."""
    series = []
    for run in reversed(runs):
        if run.is_active or not run.started_at:
            continue
        complete = run.is_full_read or run.status in SyncRun.SUCCESS_STATUSES
        series.append(
            {
                "id": run.pk,
                "at": timezone.localtime(run.created_at).strftime("%d %b %H:%M"),
                "status": run.status,
                "duration": round(run.duration_seconds or 0, 2),
                "rejected": run.rejected,
                # Only a run that read every page knows how many offers eMAG held.
                "offers": (run.expected_total if run.expected_total is not None else run.fetched) if complete else None,
            }
        )
    return series


def account_summaries(now: datetime | None = None) -> list[AccountSummary]:
    now = now or timezone.now()
    figures = selectors.offer_counts_by_account()
    summaries = []
    # The seller-fulfilled account first: it is the one staff look at most.
    for account in SellerAccount.objects.order_by("-kind", "name"):
        runs = list(
            SyncRun.objects.filter(account=account, kind=SyncRun.Kind.OFFERS).order_by("-created_at", "-id")[
                :CHART_RUNS
            ]
        )
        active_run = next((run for run in runs if run.is_active), None)
        last_run = next((run for run in runs if not run.is_active and not run.is_dry_run), None)
        counts = figures.get(account.pk, {})
        summaries.append(
            AccountSummary(
                account=account,
                last_run=last_run,
                active_run=active_run,
                progress=run_progress(active_run, now) if active_run else None,
                offers_total=counts.get("total", 0),
                offers_active=counts.get("active", 0),
                offers_sellable=counts.get("sellable", 0),
                offers_out_of_stock=counts.get("out_of_stock", 0),
                health=account_health(account, last_run, now),
                chart=chart_series(runs),
            )
        )
    return summaries


def dashboard_context(now: datetime | None = None) -> dict:
    summaries = account_summaries(now)
    return {
        "summaries": summaries,
        "has_active_run": any(summary.active_run for summary in summaries),
        "chart_data": [
            {"account": summary.account.name, "kind": summary.account.get_kind_display(), "runs": summary.chart}
            for summary in summaries
        ],
    }


def _human_delta(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return "hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minutes"
