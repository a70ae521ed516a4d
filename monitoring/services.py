"""Monitoring services other modules call: ApiCall retention (with rollups) and the figures' entry points."""

import logging
from datetime import UTC, timedelta

from django.db import transaction
from django.db.models import Count, F, FloatField, Max, Q, Sum
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from emag.models import ApiCall
from monitoring.models import ApiCallRollup

logger = logging.getLogger(__name__)


def prune_api_calls(older_than_days: int) -> int:
    """Fold ApiCall rows older than `older_than_days` (whole hours) into hourly rollups, then delete them.

    Returns the number of ApiCall rows deleted. Safe to run again: an hour already rolled up
    gains the late rows' counts instead of being written twice.
    """
    if older_than_days < 0:
        raise ValueError("older_than_days must be 0 or more.")
    # Whole hours only, so a rollup hour never shares its calls with raw rows still kept.
    cutoff = (timezone.now() - timedelta(days=older_than_days)).replace(minute=0, second=0, microsecond=0)
    old = ApiCall.objects.filter(created_at__lt=cutoff)
    with transaction.atomic():
        groups = (
            old.annotate(hour=TruncHour("created_at", tzinfo=UTC))
            .values("account_id", "route", "bucket", "hour")
            .annotate(
                requests=Count("id"),
                errors=Count("id", filter=~Q(outcome="ok")),
                throttled=Count("id", filter=Q(is_throttled=True)),
                retries=Count("id", filter=Q(attempt__gt=1)),
                duration_sum=Coalesce(Sum("duration_ms"), 0.0, output_field=FloatField()),
                duration_max=Coalesce(Max("duration_ms"), 0.0, output_field=FloatField()),
                wait_sum=Coalesce(Sum("wait_ms"), 0.0, output_field=FloatField()),
            )
            .order_by()
        )
        for group in groups:
            rollup, created = ApiCallRollup.objects.select_for_update().get_or_create(
                account_id=group["account_id"],
                route=group["route"],
                bucket=group["bucket"],
                hour=group["hour"],
                defaults={
                    "requests": group["requests"],
                    "errors": group["errors"],
                    "throttled": group["throttled"],
                    "retries": group["retries"],
                    "duration_ms_sum": group["duration_sum"],
                    "duration_ms_max": group["duration_max"],
                    "wait_ms_sum": group["wait_sum"],
                },
            )
            if not created:
                ApiCallRollup.objects.filter(pk=rollup.pk).update(
                    requests=F("requests") + group["requests"],
                    errors=F("errors") + group["errors"],
                    throttled=F("throttled") + group["throttled"],
                    retries=F("retries") + group["retries"],
                    duration_ms_sum=F("duration_ms_sum") + group["duration_sum"],
                    duration_ms_max=max(rollup.duration_ms_max, group["duration_max"]),
                    wait_ms_sum=F("wait_ms_sum") + group["wait_sum"],
                )
        deleted, _ = old.delete()
    logger.info("Pruned %s eMAG call rows older than %s into hourly rollups.", deleted, cutoff.isoformat())
    return deleted
