"""`manage.py setup_schedules`: declare MagFlow's django-q2 schedules in code. Idempotent.

- each active account's offers, every `sync_interval_minutes` (hourly by default), at a
  minute and second derived from the account's id: never on a round time (eMAG asks for
  12:04:42, not 12:00:00), and accounts spread over the hour;
- a sweep of runs whose holder died, every 2 minutes;
- the deletion of sync runs older than SYNC_RUN_RETENTION_DAYS, daily;
- the folding of ApiCall rows older than API_CALL_RETENTION_DAYS into hourly rollups, daily;
- a backup archive (monitoring.backup) into BACKUP_DIR, daily;
- the deletion of expired JWT refresh tokens, daily.

Running it again changes nothing that is already right (a schedule's next run is kept),
and removes the schedules of accounts that were deleted or disabled.
"""

from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from emag.models import SellerAccount

PREFIX = "magflow:"
ACCOUNT_PREFIX = f"{PREFIX}sync-offers:"


def account_offset_seconds(account_id: int, interval_minutes: int) -> int:
    """Seconds past the start of each interval at which this account syncs: spread, never a round minute."""
    period = max(60, interval_minutes * 60)
    offset = (account_id * 1579 + 283) % period
    if offset % 60 == 0:
        offset = (offset + 17) % period
    return offset


def next_slot(now: datetime, period_seconds: int, offset_seconds: int) -> datetime:
    """The first moment after now that lies offset_seconds past a multiple of the period (from midnight)."""
    local = timezone.localtime(now)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (local - midnight).total_seconds()
    slots = int((elapsed - offset_seconds) // period_seconds) + 1
    return midnight + timedelta(seconds=slots * period_seconds + offset_seconds)


def daily_at(now: datetime, hour: int, minute: int, second: int) -> datetime:
    local = timezone.localtime(now)
    moment = local.replace(hour=hour, minute=minute, second=second, microsecond=0)
    return moment if moment > local else moment + timedelta(days=1)


class Command(BaseCommand):
    help = "Declare MagFlow's background schedules (account syncs, stale-run sweep, cleanups). Safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        wanted: dict[str, dict[str, Any]] = {}
        for account in SellerAccount.objects.filter(is_active=True).order_by("pk"):
            interval = max(1, account.sync_interval_minutes)
            offset = account_offset_seconds(account.pk, interval)
            wanted[f"{ACCOUNT_PREFIX}{account.pk}"] = {
                "func": "emag.tasks.scheduled_sync",
                "args": str(account.pk),
                "schedule_type": Schedule.MINUTES,
                "minutes": interval,
                "next_run": next_slot(now, interval * 60, offset),
                "label": f"offers of {account.name} every {interval} min at +{offset // 60}:{offset % 60:02d}",
            }
        wanted[f"{PREFIX}sweep-stale-runs"] = {
            "func": "emag.tasks.sweep_stale_runs",
            "args": None,
            "schedule_type": Schedule.MINUTES,
            "minutes": 2,
            "next_run": next_slot(now, 120, 53),
            "label": "stale-run sweep every 2 min",
        }
        wanted[f"{PREFIX}cleanup-old-runs"] = {
            "func": "emag.tasks.cleanup_old_runs",
            "args": None,
            "schedule_type": Schedule.DAILY,
            "minutes": None,
            "next_run": daily_at(now, 3, 17, 41),
            "label": "old sync runs deleted daily at 03:17:41",
        }
        wanted[f"{PREFIX}cleanup-old-api-calls"] = {
            "func": "emag.tasks.cleanup_old_api_calls",
            "args": None,
            "schedule_type": Schedule.DAILY,
            "minutes": None,
            "next_run": daily_at(now, 3, 47, 13),
            "label": "old API calls folded daily at 03:47:13",
        }
        wanted[f"{PREFIX}backup"] = {
            "func": "monitoring.backup.run_scheduled_backup",
            "args": None,
            "schedule_type": Schedule.DAILY,
            "minutes": None,
            "next_run": daily_at(now, 2, 43, 29),
            "label": "backup daily at 02:43:29 into BACKUP_DIR (keeps BACKUP_KEEP)",
        }
        wanted[f"{PREFIX}flush-expired-tokens"] = {
            "func": "accounts.tasks.flush_expired_tokens",
            "args": None,
            "schedule_type": Schedule.DAILY,
            "minutes": None,
            "next_run": daily_at(now, 4, 11, 37),
            "label": "expired JWT refresh tokens deleted daily at 04:11:37",
        }

        with transaction.atomic():
            existing: dict[str, list[Schedule]] = {}
            for schedule in Schedule.objects.filter(name__startswith=PREFIX).order_by("pk"):
                existing.setdefault(schedule.name, []).append(schedule)
            for name, spec in wanted.items():
                label = spec.pop("label")
                found = existing.pop(name, [])
                for duplicate in found[1:]:
                    duplicate.delete()
                schedule = found[0] if found else None
                if schedule is None:
                    Schedule.objects.create(name=name, repeats=-1, **spec)
                    self.stdout.write(f"created  {name}: {label}")
                    continue
                same = (
                    schedule.func == spec["func"]
                    and (schedule.args or None) == spec["args"]
                    and schedule.schedule_type == spec["schedule_type"]
                    and schedule.minutes == spec["minutes"]
                    and schedule.repeats == -1
                )
                if same:
                    self.stdout.write(f"kept     {name}: {label}", style_func=None)
                    continue
                for field, value in spec.items():
                    setattr(schedule, field, value)
                schedule.repeats = -1
                schedule.save()
                self.stdout.write(f"updated  {name}: {label}")
            for name, schedules in existing.items():
                for schedule in schedules:
                    schedule.delete()
                self.stdout.write(f"removed  {name} (account deleted or disabled)")
