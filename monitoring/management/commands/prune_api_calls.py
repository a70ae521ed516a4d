from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.services import prune_api_calls


class Command(BaseCommand):
    help = "Fold the log of eMAG calls older than the retention into hourly rollups and delete those rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=None, help="Keep this many days of calls (API_CALL_RETENTION_DAYS)."
        )

    def handle(self, *args, days: int | None, **options) -> None:
        days = settings.API_CALL_RETENTION_DAYS if days is None else days
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        deleted = prune_api_calls(days)
        self.stdout.write(
            self.style.SUCCESS(f"Rolled up and deleted {deleted} eMAG call row(s) older than {days} days.")
        )
