from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring import backup
from monitoring.models import Backup


class Command(BaseCommand):
    help = (
        "Write a versioned, checksummed archive of seller accounts, products, offers and recent sync runs "
        "(restore it with restore_emag)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, default=None, help="Directory for the archive (BACKUP_DIR).")
        parser.add_argument("--compress", action="store_true", help="gzip the archive (.tar.gz).")
        parser.add_argument(
            "--days", type=int, default=None, help=f"Sync runs of this many last days (default {backup.DEFAULT_DAYS})."
        )
        parser.add_argument("--keep", type=int, default=None, help="Then delete all but the N newest archives there.")

    def handle(self, *args, output: Path | None, compress: bool, days: int | None, keep: int | None, **options) -> None:
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more.")
        if keep is not None and keep < 1:
            raise CommandError("--keep must be at least 1.")
        directory = output or Path(settings.BACKUP_DIR)
        try:
            done = backup.create_backup(
                output_dir=directory, compress=compress, days=days, trigger=Backup.Trigger.COMMAND
            )
        except backup.BackupError as exc:
            raise CommandError(str(exc))
        counts = ", ".join(f"{table.name} {done.counts.get(table.name, 0)}" for table in backup.TABLES)
        self.stdout.write(self.style.SUCCESS(f"Wrote {Path(done.directory) / done.file_name} ({counts})."))
        self.stdout.write(f"sha256 {done.sha256}")
        if keep is not None:
            removed = backup.prune_archives(Path(done.directory), keep)
            self.stdout.write(f"Pruned {len(removed)} old archive(s){': ' + ', '.join(removed) if removed else ''}.")
