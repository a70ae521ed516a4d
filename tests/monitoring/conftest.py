"""Factories for known eMAG calls, sync runs and accounts, so every figure can be computed by hand."""

from datetime import timedelta

import pytest
from django.utils import timezone

from emag.models import ApiCall, SellerAccount, SyncRun


def make_account(name: str, *, interval: int = 60, created_minutes_ago: float = 0, is_active: bool = True):
    account = SellerAccount(
        name=name,
        platform=SellerAccount.Platform.CUSTOM,
        base_url="https://sandbox.emag.test/api-3",
        username=f"{name}@example.com",
        sync_interval_minutes=interval,
        is_active=is_active,
    )
    account.set_password("s3cret-" + name)
    account.save()
    if created_minutes_ago:
        SellerAccount.objects.filter(pk=account.pk).update(
            created_at=timezone.now() - timedelta(minutes=created_minutes_ago)
        )
        account.refresh_from_db()
    return account


def make_calls(account, durations, *, seconds_ago: float = 10, outcome: str = "ok", status_code: int = 200, **extra):
    """One ApiCall per duration (ms), all `seconds_ago` old."""
    at = timezone.now() - timedelta(seconds=seconds_ago)
    rows = [
        ApiCall(
            account=account,
            route=extra.get("route", "product_offer/read"),
            bucket=extra.get("bucket", "other"),
            status_code=status_code,
            outcome=outcome,
            duration_ms=duration,
            attempt=extra.get("attempt", 1),
            is_throttled=extra.get("is_throttled", False),
            wait_ms=extra.get("wait_ms", 0),
            created_at=at,
        )
        for duration in durations
    ]
    return ApiCall.objects.bulk_create(rows)


def make_run(
    account,
    status,
    *,
    finished_minutes_ago: float = 5,
    duration_seconds: float = 60,
    fetched: int = 0,
    kind=SyncRun.Kind.OFFERS,
    is_dry_run: bool = False,
):
    finished = timezone.now() - timedelta(minutes=finished_minutes_ago)
    return SyncRun.objects.create(
        account=account,
        kind=kind,
        trigger=SyncRun.Trigger.SCHEDULE,
        status=status,
        is_dry_run=is_dry_run,
        started_at=finished - timedelta(seconds=duration_seconds),
        finished_at=finished,
        fetched=fetched,
    )


@pytest.fixture
def fresh_account(db):
    """An active account whose last offer sync succeeded 5 minutes ago: no rule fires because of it."""
    account = make_account("main", created_minutes_ago=600)
    make_run(account, SyncRun.Status.COMPLETED, finished_minutes_ago=5)
    return account
