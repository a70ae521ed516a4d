from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring import backup


class Command(BaseCommand):
    help = (
        "Restore a backup_emag archive into this database: verifies every checksum and count first, then upserts "
        "by natural keys in one transaction (no duplicates; nothing is written if anything is wrong)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", type=Path, help="The .tar or .tar.gz file backup_emag wrote.")
        parser.add_argument("--check", action="store_true", help="Only verify the archive; restore nothing.")

    def handle(self, *args, archive: Path, check: bool, **options) -> None:
        try:
            if check:
                manifest = backup.read_archive(archive)
                counts = {entry["name"]: entry["count"] for entry in manifest["tables"]}
                self.stdout.write(self.style.SUCCESS(f"{archive} is intact: {self._describe(counts)}."))
                return
            restored = backup.restore_archive(archive)
        except backup.BackupError as exc:
            raise CommandError(str(exc))
        self.stdout.write(self.style.SUCCESS(f"Restored {archive}: {self._describe(restored)}."))

    @staticmethod
    def _describe(counts: dict[str, int]) -> str:
        return ", ".join(f"{name} {count}" for name, count in counts.items())
