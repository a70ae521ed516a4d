"""The figures: read queries over ApiCall, its hourly rollups, SyncRun, Offer and the task queue.

Everything here reads the database, so every process (web, worker, Prometheus scrape) sees the
same numbers. Times are milliseconds, rates and usages are percentages (0-100).
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, FloatField, Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from emag import ratelimit
from emag.models import ApiCall, Offer, Product, SellerAccount, SyncRun
from monitoring.models import ApiCallRollup

WINDOW_CHOICES = ("30s", "5m", "1h", "24h")
DEFAULT_WINDOW = "5m"
_DURATION_RE = re.compile(r"^(\d{1,5})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_PERIOD = timedelta(days=366)

FAILED_SYNC_STATUSES = (SyncRun.Status.FAILED, SyncRun.Status.PARTIAL, SyncRun.Status.ABANDONED)


class InvalidWindow(ValueError):
    """A window or period parameter that is not `<number><s|m|h|d>` within a year."""


def rate_limits() -> dict[str, tuple[int, int]]:
    """(per second, per minute) of each bucket, as the shared rate limiter enforces them."""
    return {bucket: (limit.per_second, limit.per_minute) for bucket, limit in ratelimit.LIMITS.items()}


def parse_window(value: str | None, *, default: str = DEFAULT_WINDOW) -> timedelta:
    """`30s`, `5m`, `1h`, `24h`, `7d`… as a timedelta; InvalidWindow for anything else."""
    text = (value if value is not None else default).strip().lower()
    match = _DURATION_RE.match(text)
    if not match:
        raise InvalidWindow(f"{value!r} is not a window such as 30s, 5m, 1h or 24h.")
    span = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if span <= timedelta(0) or span > MAX_PERIOD:
        raise InvalidWindow(f"{value!r} must be longer than 0 seconds and at most 366 days.")
    return span


@dataclass(frozen=True)
class Span:
    since: datetime
    until: datetime

    @property
    def minutes(self) -> float:
        return (self.until - self.since).total_seconds() / 60

    @classmethod
    def ending_now(cls, length: timedelta, now: datetime | None = None) -> "Span":
        now = now or timezone.now()
        return cls(since=now - length, until=now)


def _percent(part: float, whole: float, *, empty: float) -> float:
    if not whole:
        return empty
    return round(100.0 * part / whole, 2)


def _interpolated_percentile(durations: QuerySet, count: int, fraction: float) -> float | None:
    """The fraction-th percentile with linear interpolation (numpy's default), read from the database."""
    if count == 0:
        return None
    position = fraction * (count - 1)
    low = math.floor(position)
    pair = list(durations.order_by("duration_ms").values_list("duration_ms", flat=True)[low : low + 2])
    if len(pair) == 1 or position == low:
        return round(pair[0], 2)
    return round(pair[0] + (pair[1] - pair[0]) * (position - low), 2)


def _calls(span: Span, account_id: int | None) -> QuerySet:
    calls = ApiCall.objects.filter(created_at__gte=span.since, created_at__lt=span.until)
    return calls if account_id is None else calls.filter(account_id=account_id)


def _rollups(span: Span, account_id: int | None) -> QuerySet:
    # An hour is rolled up only once all its ApiCall rows are pruned, so raw rows and rollups never
    # overlap; a rollup hour counts when it starts inside the window (hour granularity).
    rollups = ApiCallRollup.objects.filter(hour__gte=span.since, hour__lt=span.until)
    return rollups if account_id is None else rollups.filter(account_id=account_id)


_RAW_AGGREGATES = {
    "requests": Count("id"),
    "errors": Count("id", filter=~Q(outcome="ok")),
    "throttled": Count("id", filter=Q(is_throttled=True)),
    "retries": Count("id", filter=Q(attempt__gt=1)),
    "duration_sum": Coalesce(Sum("duration_ms"), 0.0, output_field=FloatField()),
    "duration_max": Max("duration_ms"),
    "wait_sum": Coalesce(Sum("wait_ms"), 0.0, output_field=FloatField()),
}
_ROLLUP_AGGREGATES = {
    "requests": Coalesce(Sum("requests"), 0),
    "errors": Coalesce(Sum("errors"), 0),
    "throttled": Coalesce(Sum("throttled"), 0),
    "retries": Coalesce(Sum("retries"), 0),
    "duration_sum": Coalesce(Sum("duration_ms_sum"), 0.0, output_field=FloatField()),
    "duration_max": Max("duration_ms_max"),
    "wait_sum": Coalesce(Sum("wait_ms_sum"), 0.0, output_field=FloatField()),
}


def _usage_by_bucket(span: Span, account_id: int | None) -> dict[tuple[int | None, str], int]:
    counts: dict[tuple[int | None, str], int] = {}
    for row in _calls(span, account_id).values("account_id", "bucket").annotate(n=Count("id")).order_by():
        counts[(row["account_id"], row["bucket"])] = row["n"]
    for row in _rollups(span, account_id).values("account_id", "bucket").annotate(n=Sum("requests")).order_by():
        key = (row["account_id"], row["bucket"])
        counts[key] = counts.get(key, 0) + row["n"]
    return counts


def rate_limit_usage(span: Span, account_id: int | None = None) -> float:
    """The busiest account bucket's average per-minute rate over the span, as % of its per-minute limit."""
    limits = rate_limits()
    usage = 0.0
    for (_account, bucket), n in _usage_by_bucket(span, account_id).items():
        per_minute = limits.get(bucket, limits[ratelimit.OTHER])[1]
        usage = max(usage, 100.0 * n / span.minutes / per_minute)
    return round(usage, 2)


def api_call_figures(span: Span, account_id: int | None = None) -> dict:
    """The request figures of one account (or all) over a span."""
    raw_calls = _calls(span, account_id)
    raw = raw_calls.aggregate(**_RAW_AGGREGATES)
    rolled = _rollups(span, account_id).aggregate(**_ROLLUP_AGGREGATES)
    requests = raw["requests"] + rolled["requests"]
    errors = raw["errors"] + rolled["errors"]
    maxima = [value for value in (raw["duration_max"], rolled["duration_max"]) if value is not None]
    return {
        "requests_per_minute": round(requests / span.minutes, 2),
        "error_rate": _percent(errors, requests, empty=0.0),
        "average_response_time": (
            round((raw["duration_sum"] + rolled["duration_sum"]) / requests, 2) if requests else None
        ),
        # Percentiles need single calls: they cover the calls not yet pruned into rollups.
        "median_response_time": _interpolated_percentile(raw_calls, raw["requests"], 0.5),
        "p95_response_time": _interpolated_percentile(raw_calls, raw["requests"], 0.95),
        "max_response_time": round(max(maxima), 2) if maxima else None,
        "total_requests": requests,
        "total_errors": errors,
        "throttled_requests": raw["throttled"] + rolled["throttled"],
        "retried_requests": raw["retries"] + rolled["retries"],
        "rate_limit_wait_time": round(raw["wait_sum"] + rolled["wait_sum"], 2),
        "rate_limit_usage": rate_limit_usage(span, account_id),
    }


def _finished_runs(span: Span, account_id: int | None) -> QuerySet:
    runs = SyncRun.objects.filter(finished_at__gte=span.since, finished_at__lt=span.until)
    return runs if account_id is None else runs.filter(account_id=account_id)


def sync_figures(span: Span, account_id: int | None = None) -> dict:
    """Counts and timings of the sync runs that finished in the span. Cancelled runs are neither success nor failure."""
    figures = _finished_runs(span, account_id).aggregate(
        total=Count("id"),
        successful=Count("id", filter=Q(status__in=SyncRun.SUCCESS_STATUSES)),
        failed=Count("id", filter=Q(status__in=FAILED_SYNC_STATUSES)),
        cancelled=Count("id", filter=Q(status=SyncRun.Status.CANCELLED)),
        items=Coalesce(Sum("fetched"), 0),
        pages=Coalesce(Sum("pages_done"), 0),
    )
    timed = _finished_runs(span, account_id).filter(started_at__isnull=False)
    durations = [
        (run_end - run_start).total_seconds() for run_start, run_end in timed.values_list("started_at", "finished_at")
    ]
    decided = figures["successful"] + figures["failed"]
    return {
        "total_syncs": figures["total"],
        "successful_syncs": figures["successful"],
        "failed_syncs": figures["failed"],
        "cancelled_syncs": figures["cancelled"],
        "success_rate": _percent(figures["successful"], decided, empty=100.0),
        "average_duration_seconds": round(sum(durations) / len(durations), 2) if durations else None,
        "total_items_processed": figures["items"],
        "total_pages_processed": figures["pages"],
    }


def running_syncs(account_id: int | None = None) -> int:
    runs = SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES)
    return (runs if account_id is None else runs.filter(account_id=account_id)).count()


def window_metrics(span: Span, account_id: int | None = None) -> dict:
    """Every figure of the metrics endpoint for one account (or all) over a span."""
    figures = api_call_figures(span, account_id)
    figures["sync_success_rate"] = sync_figures(span, account_id)["success_rate"]
    figures["active_syncs"] = running_syncs(account_id)
    return figures


def last_successful_offer_syncs() -> dict[int, datetime]:
    rows = (
        SyncRun.objects.filter(
            kind=SyncRun.Kind.OFFERS, status__in=SyncRun.SUCCESS_STATUSES, is_dry_run=False, finished_at__isnull=False
        )
        .values("account_id")
        .annotate(last=Max("finished_at"))
        .order_by()
    )
    return {row["account_id"]: row["last"] for row in rows}


def overdue_accounts(now: datetime | None = None) -> list[dict]:
    """Every account with its offer-sync freshness; `is_overdue` when older than twice its schedule."""
    now = now or timezone.now()
    last = last_successful_offer_syncs()
    found = []
    for account in SellerAccount.objects.order_by("name"):
        last_success = last.get(account.pk)
        # An account never synced is judged from when it was added, so a new account gets one schedule's grace.
        reference = last_success or account.created_at
        age_minutes = (now - reference).total_seconds() / 60
        found.append(
            {
                "id": account.pk,
                "name": account.name,
                "is_active": account.is_active,
                "sync_interval_minutes": account.sync_interval_minutes,
                "last_successful_sync_at": last_success,
                "minutes_since_successful_sync": round(age_minutes, 1) if last_success else None,
                "is_overdue": account.is_active and age_minutes > 2 * account.sync_interval_minutes,
                "_age_minutes": age_minutes,
            }
        )
    return found


def queue_retry_seconds() -> int:
    return int(settings.Q_CLUSTER.get("retry", 60))


def queue_figures(now: datetime | None = None) -> dict:
    """Tasks waiting in the django-q2 queue and the age of the oldest, from the ORM broker or Redis."""
    now = now or timezone.now()
    if settings.Q_CLUSTER.get("redis"):
        return _redis_queue_figures(now)
    from django_q.models import OrmQ

    # A waiting row's lock is when it was queued, or when a worker's claim on it ran out.
    waiting = OrmQ.objects.filter(lock__lte=now)
    oldest = waiting.order_by("lock").values_list("lock", flat=True).first()
    return {
        "broker": "orm",
        "queued_tasks": waiting.count(),
        "claimed_tasks": OrmQ.objects.filter(lock__gt=now).count(),
        "oldest_task_age_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
        "retry_seconds": queue_retry_seconds(),
    }


def _redis_queue_figures(now: datetime) -> dict:
    import redis
    from django_q.signing import SignedPackage

    # Read from the settings, not django_q's Conf, so the figures follow the configuration this process has.
    location = settings.Q_CLUSTER["redis"]
    client = redis.Redis.from_url(location) if isinstance(location, str) else redis.Redis(**location)
    list_key = f"django_q:{settings.Q_CLUSTER.get('name', 'default')}:q"
    size = client.llen(list_key)
    oldest_age = None
    head = client.lindex(list_key, 0) if size else None
    if head:
        try:
            started = SignedPackage.loads(head).get("started")
        except Exception:  # an unreadable package has no age to report
            started = None
        if started:
            oldest_age = round((now - started).total_seconds(), 1)
    return {
        "broker": "redis",
        "queued_tasks": size,
        "claimed_tasks": None,
        "oldest_task_age_seconds": oldest_age,
        "retry_seconds": queue_retry_seconds(),
    }


def product_stats(now: datetime | None = None) -> dict:
    """Offer counts overall and per account: total, active, sellable, out of stock, changed in the last 24 h."""
    now = now or timezone.now()
    day_ago = now - timedelta(hours=24)
    aggregates = {
        "total_offers": Count("id"),
        "present_offers": Count("id", filter=Q(is_present=True)),
        "active_offers": Count("id", filter=Q(is_present=True, status=Offer.Status.ACTIVE)),
        "sellable_offers": Count("id", filter=Q(is_present=True, is_sellable=True)),
        "out_of_stock_offers": Count("id", filter=Q(is_present=True, stock_total__lte=0)),
        "changed_last_24h": Count("id", filter=Q(last_changed_at__gte=day_ago)),
        "seen_last_24h": Count("id", filter=Q(last_seen_at__gte=day_ago)),
    }
    per_account = {
        row["account_id"]: row for row in Offer.objects.values("account_id").annotate(**aggregates).order_by()
    }
    empty = dict.fromkeys(aggregates, 0)
    accounts = []
    for account in SellerAccount.objects.order_by("name"):
        row = per_account.get(account.pk, empty)
        accounts.append(
            {
                "account_id": account.pk,
                "account": account.name,
                **{key: row[key] for key in aggregates},
                "last_full_sync_at": account.last_full_sync_at,
            }
        )
    return {
        "total_products": Product.objects.count(),
        **Offer.objects.aggregate(**aggregates),
        "accounts": accounts,
    }


def calls_total_by_account() -> dict[int | None, dict[str, int]]:
    """All-time request and error counters per account (rollups plus raw rows), for Prometheus counters."""
    totals: dict[int | None, dict[str, int]] = {}

    def add(account_id: int | None, requests: int, errors: int, throttled: int) -> None:
        entry = totals.setdefault(account_id, {"requests": 0, "errors": 0, "throttled": 0})
        entry["requests"] += requests
        entry["errors"] += errors
        entry["throttled"] += throttled

    for row in (
        ApiCall.objects.values("account_id")
        .annotate(
            requests=Count("id"),
            errors=Count("id", filter=~Q(outcome="ok")),
            throttled=Count("id", filter=Q(is_throttled=True)),
        )
        .order_by()
    ):
        add(row["account_id"], row["requests"], row["errors"], row["throttled"])
    for row in (
        ApiCallRollup.objects.values("account_id")
        .annotate(requests=Sum("requests"), errors=Sum("errors"), throttled=Sum("throttled"))
        .order_by()
    ):
        add(row["account_id"], row["requests"], row["errors"], row["throttled"])
    return totals
