"""Portable, checksummed backups of MagFlow's eMAG data, and their exact restore.

An archive is a tar (optionally gzipped) of one JSON-lines file per table and a `manifest.json`
holding the format version, each file's row count and sha256, and a digest of all of them. Next
to it a `<archive>.sha256` file (sha256sum format) checksums the whole archive. Rows reference
each other by natural keys (account name, product SKU, run id), so an archive restores into an
empty database or over an existing one without duplicates. Passwords stay Fernet-encrypted: the
restoring MagFlow needs the same MAGFLOW_ENCRYPTION_KEY to use them.

For a whole-database copy on PostgreSQL use pg_dump (see the README); this archive is the
portable, SQLite-to-PostgreSQL-and-back copy of what MagFlow cannot re-read from eMAG.
"""

import hashlib
import json
import logging
import os
import re
import tarfile
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management.color import no_style
from django.db import IntegrityError, connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from emag.models import Offer, Product, SellerAccount, SyncError, SyncPage, SyncRun
from monitoring.models import Backup

logger = logging.getLogger(__name__)

FORMAT = "magflow-emag-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DEFAULT_DAYS = 30
BATCH = 1000
ARCHIVE_RE = re.compile(r"^magflow-emag-\d{8}T\d{6}Z(-\d+)?\.tar(\.gz)?$")


class BackupError(Exception):
    """A backup could not be written, or an archive cannot be restored (damaged, unknown format)."""


@dataclass(frozen=True)
class Table:
    name: str
    model: type[models.Model]
    # Foreign keys written as natural keys: field name -> (related model, natural key field).
    references: dict[str, tuple[type[models.Model], str]]


TABLES = (
    Table("seller_accounts", SellerAccount, {}),
    Table("products", Product, {}),
    Table("offers", Offer, {"account": (SellerAccount, "name"), "product": (Product, "sku")}),
    Table("sync_runs", SyncRun, {"account": (SellerAccount, "name"), "resumed_from": (SyncRun, "id")}),
    Table("sync_pages", SyncPage, {"run": (SyncRun, "id")}),
    Table("sync_errors", SyncError, {"run": (SyncRun, "id")}),
)
TABLES_BY_NAME = {table.name: table for table in TABLES}


def _field_names(model: type[models.Model]) -> list[str]:
    return [field.name for field in model._meta.concrete_fields]


def _encode(value: Any) -> Any:
    # Full precision on purpose: DjangoJSONEncoder cuts microseconds, and a restore must be exact.
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to a backup")


def _dumps(row: dict) -> bytes:
    return json.dumps(row, default=_encode, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


# --- Writing ---------------------------------------------------------------------------------------------------


def _rows(table: Table, runs_since: datetime) -> Iterator[dict]:
    """The table's rows as plain values, foreign keys replaced by natural keys."""
    model = table.model
    fields = model._meta.concrete_fields
    attnames = [field.attname for field in fields]
    names = dict(SellerAccount.objects.values_list("pk", "name"))
    queryset = model.objects.order_by("pk")
    if model is SyncRun:
        queryset = queryset.filter(created_at__gte=runs_since)
    elif model in (SyncPage, SyncError):
        queryset = queryset.filter(run__created_at__gte=runs_since)
    if model is Offer:
        queryset = queryset.annotate(_sku=models.F("product__sku"))
        attnames = [*attnames, "_sku"]
    for values in queryset.values_list(*attnames).iterator(chunk_size=2000):
        raw = dict(zip(attnames, values, strict=True))
        row = {}
        for field in fields:
            value = raw[field.attname]
            if field.name in table.references and value is not None:
                related, key = table.references[field.name]
                if related is SellerAccount:
                    value = names[value]
                elif related is Product:
                    value = raw["_sku"]
            row[field.name] = value
        yield row


def _applied_migrations() -> dict[str, str]:
    """The last applied migration of each app whose tables are in the archive."""
    applied: dict[str, str] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        if app == "emag" and name > applied.get(app, ""):
            applied[app] = name
    return applied


def archive_name(created_at: datetime, backup_id: int | None, compress: bool) -> str:
    stamp = created_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = f"-{backup_id}" if backup_id else ""
    return f"magflow-emag-{stamp}{suffix}.tar{'.gz' if compress else ''}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_archive(
    output_dir: Path, *, compress: bool = True, days: int = DEFAULT_DAYS, name: str | None = None
) -> tuple[Path, dict]:
    """Write an archive into `output_dir`; return its path and manifest."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    created_at = timezone.now()
    runs_since = created_at - timedelta(days=days)
    name = name or archive_name(created_at, None, compress)
    final = output_dir / name
    if final.exists():
        raise BackupError(f"{final} already exists.")
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".backup-") as work:
        work_dir = Path(work)
        entries = []
        # One snapshot for every table, so offers never point at a product the archive lacks.
        is_outermost = not connection.in_atomic_block
        with transaction.atomic():
            if is_outermost and connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            for table in TABLES:
                digest, count = hashlib.sha256(), 0
                with (work_dir / f"{table.name}.jsonl").open("wb") as handle:
                    for row in _rows(table, runs_since):
                        line = _dumps(row)
                        digest.update(line)
                        handle.write(line)
                        count += 1
                entries.append(
                    {
                        "name": table.name,
                        "model": table.model._meta.label,
                        "file": f"{table.name}.jsonl",
                        "count": count,
                        "sha256": digest.hexdigest(),
                        "fields": _field_names(table.model),
                    }
                )
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": created_at.isoformat(),
            "days": days,
            "runs_since": runs_since.isoformat(),
            "migrations": _applied_migrations(),
            "tables": entries,
            "content_sha256": _content_digest(entries),
        }
        (work_dir / MANIFEST).write_bytes(json.dumps(manifest, indent=2).encode())
        partial = work_dir / (name + ".part")
        with tarfile.open(partial, "w:gz" if compress else "w") as archive:
            archive.add(work_dir / MANIFEST, arcname=MANIFEST)
            for entry in entries:
                archive.add(work_dir / entry["file"], arcname=entry["file"])
        checksum = sha256_file(partial)
        os.replace(partial, final)
    (output_dir / (name + ".sha256")).write_text(f"{checksum}  {name}\n")
    manifest["archive_sha256"] = checksum
    return final, manifest


def _content_digest(entries: Iterable[dict]) -> str:
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(f"{entry['file']}:{entry['count']}:{entry['sha256']}\n".encode())
    return digest.hexdigest()


def _archive_age_key(path: Path) -> tuple:
    match = ARCHIVE_RE.match(path.name)
    number = int(match.group(1)[1:]) if match and match.group(1) else 0
    return (path.stat().st_mtime_ns, path.name[:29], number)


def prune_archives(directory: Path, keep: int) -> list[str]:
    """Delete all but the `keep` newest MagFlow archives in `directory` (and their .sha256 files)."""
    if keep < 1:
        raise BackupError("keep must be at least 1: the newest backup is never pruned.")
    directory = Path(directory)
    if not directory.is_dir():
        return []
    archives = sorted(
        (path for path in directory.iterdir() if ARCHIVE_RE.match(path.name)),
        key=_archive_age_key,
        reverse=True,
    )
    removed = []
    for path in archives[keep:]:
        path.unlink(missing_ok=True)
        (directory / (path.name + ".sha256")).unlink(missing_ok=True)
        removed.append(path.name)
    if removed:
        Backup.objects.filter(directory=str(directory), file_name__in=removed, deleted_at__isnull=True).update(
            deleted_at=timezone.now()
        )
    return removed


def run_backup(backup_id: int) -> Backup:
    """Write the archive a Backup row asks for (the django-q2 task and the command both end here)."""
    claimed = Backup.objects.filter(pk=backup_id, status=Backup.Status.QUEUED).update(status=Backup.Status.RUNNING)
    backup = Backup.objects.get(pk=backup_id)
    if not claimed:
        logger.warning("Backup %s is %s, not queued: not run again.", backup_id, backup.status)
        return backup
    name = archive_name(backup.created_at, backup.pk, backup.is_compressed)
    try:
        path, manifest = write_archive(
            Path(backup.directory), compress=backup.is_compressed, days=backup.days, name=name
        )
    except Exception as exc:
        # The end state is always written, whatever failed; the error itself goes to the log.
        Backup.objects.filter(pk=backup.pk).update(
            status=Backup.Status.FAILED, error_message=f"{exc.__class__.__name__}: {exc}", finished_at=timezone.now()
        )
        logger.exception("Backup %s failed.", backup.pk)
        raise
    Backup.objects.filter(pk=backup.pk).update(
        status=Backup.Status.COMPLETED,
        file_name=path.name,
        format_version=FORMAT_VERSION,
        size_bytes=path.stat().st_size,
        sha256=manifest["archive_sha256"],
        counts={entry["name"]: entry["count"] for entry in manifest["tables"]},
        finished_at=timezone.now(),
    )
    backup.refresh_from_db()
    logger.info("Backup %s written to %s (%s bytes).", backup.pk, path, backup.size_bytes)
    return backup


def create_backup(
    *,
    output_dir: Path | None = None,
    compress: bool = True,
    days: int | None = None,
    trigger: str = Backup.Trigger.COMMAND,
    user: Any = None,
) -> Backup:
    """Record a backup and write it now, in this process."""
    backup = Backup.objects.create(
        trigger=trigger,
        directory=str(Path(output_dir or settings.BACKUP_DIR).resolve()),
        is_compressed=compress,
        days=DEFAULT_DAYS if days is None else days,
        created_by=user if getattr(user, "pk", None) else None,
    )
    return run_backup(backup.pk)


def queue_backup(*, compress: bool = True, days: int | None = None, trigger: str, user: Any = None) -> Backup:
    """Record a backup and hand it to the django-q2 worker (the API's door)."""
    from django_q.tasks import async_task

    backup = Backup.objects.create(
        trigger=trigger,
        directory=str(Path(settings.BACKUP_DIR).resolve()),
        is_compressed=compress,
        days=DEFAULT_DAYS if days is None else days,
        created_by=user if getattr(user, "pk", None) else None,
    )
    async_task("monitoring.backup.run_backup", backup.pk, task_name=f"backup-{backup.pk}", group="backups")
    backup.refresh_from_db()
    return backup


def run_scheduled_backup() -> str:
    """The daily schedule's entry point: write a compressed backup into BACKUP_DIR and apply the retention."""
    backup = create_backup(trigger=Backup.Trigger.SCHEDULE, days=settings.BACKUP_SYNC_RUN_DAYS)
    removed = prune_archives(Path(backup.directory), settings.BACKUP_KEEP)
    return f"{backup.file_name}: {backup.counts}; pruned {len(removed)} old archive(s)"


# --- Reading and restoring ---------------------------------------------------------------------------------------


def _damaged(path: Path, why: str) -> BackupError:
    return BackupError(f"The archive {path} is damaged or not a MagFlow backup: {why}. Nothing was restored.")


def _open(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _damaged(path, f"it cannot be opened as a tar archive ({exc})")


def _member_bytes(archive: tarfile.TarFile, path: Path, name: str) -> bytes:
    handle = _member_file(archive, path, name)
    try:
        return handle.read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _damaged(path, f"{name} cannot be read ({exc})")


def _member_file(archive: tarfile.TarFile, path: Path, name: str) -> IO[bytes]:
    try:
        handle = archive.extractfile(archive.getmember(name))
    except KeyError:
        raise _damaged(path, f"{name} is missing")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _damaged(path, f"{name} cannot be read ({exc})")
    if handle is None:
        raise _damaged(path, f"{name} is not a file")
    return handle


def _member_lines(archive: tarfile.TarFile, path: Path, entry: dict) -> Iterator[bytes]:
    """A table's lines, streamed; once exhausted, checked against the manifest's sha256 and count."""
    digest, count = hashlib.sha256(), 0
    handle = _member_file(archive, path, entry["file"])
    try:
        for line in handle:
            digest.update(line)
            count += 1
            yield line
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _damaged(path, f"{entry['file']} cannot be read ({exc})")
    if digest.hexdigest() != entry["sha256"]:
        raise _damaged(path, f"{entry['file']} does not match its sha256")
    if count != entry["count"]:
        raise _damaged(path, f"{entry['file']} holds {count} rows, the manifest says {entry['count']}")


def _member_rows(archive: tarfile.TarFile, path: Path, entry: dict) -> Iterator[dict]:
    for line in _member_lines(archive, path, entry):
        try:
            yield json.loads(line)
        except ValueError as exc:
            raise _damaged(path, f"{entry['file']} holds a line that is not JSON ({exc})")


def read_archive(path: Path) -> dict:
    """Verify an archive without restoring it: the whole-file checksum, the manifest, each table's count and sha256.

    Returns the manifest; raises BackupError on any mismatch. Tables are streamed, never held in memory.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"No archive at {path}.")
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():
        words = sidecar.read_text().split()
        expected = words[0] if words else ""
        actual = sha256_file(path)
        if expected != actual:
            raise _damaged(path, f"its sha256 is {actual}, but {sidecar.name} says {expected}")
    with _open(path) as archive:
        try:
            manifest = json.loads(_member_bytes(archive, path, MANIFEST))
        except ValueError as exc:
            raise _damaged(path, f"{MANIFEST} is not JSON ({exc})")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise _damaged(path, f"{MANIFEST} does not describe a {FORMAT} archive")
        version = manifest.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise BackupError(
                f"The archive {path} has format version {version!r}; this MagFlow reads up to {FORMAT_VERSION}."
            )
        entries = manifest.get("tables") or []
        if manifest.get("content_sha256") != _content_digest(entries):
            raise _damaged(path, "the manifest's checksums do not add up (content_sha256)")
        seen = set()
        for entry in entries:
            table = TABLES_BY_NAME.get(entry.get("name"))
            if table is None:
                raise _damaged(path, f"unknown table {entry.get('name')!r}")
            unknown = set(entry.get("fields", [])) - set(_field_names(table.model))
            if unknown:
                raise BackupError(
                    f"The archive {path} has {table.name} fields this MagFlow lacks ({', '.join(sorted(unknown))}): "
                    "restore it with the MagFlow version that wrote it."
                )
            for _line in _member_lines(archive, path, entry):
                pass
            seen.add(table.name)
        missing = set(TABLES_BY_NAME) - seen
        if missing:
            raise _damaged(path, f"tables missing: {', '.join(sorted(missing))}")
    return manifest


def _batches(rows: Iterable[dict], size: int = BATCH) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _instance(model: type[models.Model], row: dict, resolved: dict[str, Any]) -> models.Model:
    """A model instance from an archived row; foreign keys come from `resolved` (field name -> id)."""
    values = {}
    for field in model._meta.concrete_fields:
        if field.name not in row and field.name not in resolved:
            continue
        if field.is_relation:
            values[field.attname] = resolved.get(field.name)
        else:
            values[field.attname] = field.to_python(row[field.name])
    return model(**values)


@contextmanager
def _archived_times_kept() -> Iterator[None]:
    """Let created_at/updated_at (auto_now, auto_now_add) take the archived values instead of the present.

    The flags are switched off on the model fields for the restore's duration: restores run from the
    command line, one at a time, and nothing else in that process saves these models meanwhile.
    """
    switched = []
    for table in TABLES:
        for field in table.model._meta.concrete_fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                switched.append((field, field.auto_now, field.auto_now_add))
                field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in switched:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


def _save_batch(model: type[models.Model], instances: list[models.Model], existing: dict[Any, int], key) -> None:
    """Update the instances whose natural key exists (keeping its id), insert the others (keeping theirs if free)."""
    updates, inserts = [], []
    for instance in instances:
        found = existing.get(key(instance))
        if found is not None:
            instance.pk = found
            updates.append(instance)
        else:
            inserts.append(instance)
    taken = set(
        model.objects.filter(pk__in=[item.pk for item in inserts if item.pk is not None]).values_list("pk", flat=True)
    )
    for instance in inserts:
        if instance.pk in taken:
            instance.pk = None
    editable = [field for field in model._meta.concrete_fields if not field.primary_key]
    if updates:
        # Only rows that differ are written: a restore over a current database then costs reads, not writes.
        current = {
            row["pk"]: row
            for row in model.objects.filter(pk__in=[item.pk for item in updates]).values(
                "pk", *[field.attname for field in editable]
            )
        }
        changed = [
            item
            for item in updates
            if any(getattr(item, field.attname) != current[item.pk][field.attname] for field in editable)
        ]
        if changed:
            model.objects.bulk_update(changed, [field.name for field in editable], batch_size=100)
    if inserts:
        model.objects.bulk_create(inserts, batch_size=500)


def _restore_keyed(
    table: Table, rows: Iterable[dict], natural_key: tuple[str, ...], resolve: dict[str, dict[Any, int]]
) -> dict[Any, int]:
    """Upsert a table by natural key; return natural key -> id for the rows restored."""
    model = table.model
    restored: dict[Any, int] = {}
    for batch in _batches(rows):
        instances = []
        for row in batch:
            resolved = {}
            for name, (_related, _key) in table.references.items():
                value = row.get(name)
                if value is None or name == "resumed_from":
                    resolved[name] = None
                else:
                    try:
                        resolved[name] = resolve[name][value]
                    except KeyError:
                        raise BackupError(f"{table.name}: {name} {value!r} is not in the archive.")
            instances.append(_instance(model, row, resolved))

        def key(instance: models.Model) -> Any:
            values = tuple(getattr(instance, model._meta.get_field(name).attname) for name in natural_key)
            return values[0] if len(values) == 1 else values

        keys = [key(instance) for instance in instances]
        lookup = models.Q()
        if len(natural_key) == 1:
            lookup = models.Q(**{f"{natural_key[0]}__in": keys})
        else:
            for account_id in {k[0] for k in keys}:
                lookup |= models.Q(account_id=account_id, emag_id__in=[k[1] for k in keys if k[0] == account_id])
        attnames = [model._meta.get_field(name).attname for name in natural_key]
        existing = {}
        for values in model.objects.filter(lookup).values_list("pk", *attnames):
            existing[values[1] if len(values) == 2 else tuple(values[1:])] = values[0]
        _save_batch(model, instances, existing, key)
        for instance in instances:
            restored[key(instance)] = instance.pk
    return restored


def _restore_children(table: Table, rows: Iterable[dict], run_ids: dict[int, int]) -> int:
    """Pages and errors belong to their run: the archive's set replaces the run's set."""
    model = table.model
    model.objects.filter(run_id__in=list(run_ids.values())).delete()
    count = 0
    for batch in _batches(rows):
        instances = []
        for row in batch:
            try:
                run_id = run_ids[row["run"]]
            except KeyError:
                raise BackupError(f"{table.name}: run {row['run']!r} is not in the archive.")
            instances.append(_instance(model, row, {"run": run_id}))
        _save_batch(model, instances, {}, key=lambda instance: None)
        count += len(instances)
    return count


def restore_archive(path: Path) -> dict[str, int]:
    """Verify an archive and restore it exactly, in one transaction; return the rows restored per table.

    The archive is verified in full before anything is written, and each table is checked again as it
    streams in, so a file that changes in between still rolls the whole restore back.
    """
    path = Path(path)
    manifest = read_archive(path)
    entries = {entry["name"]: entry for entry in manifest["tables"]}
    expected = {name: entry["count"] for name, entry in entries.items()}
    try:
        with _open(path) as archive, _archived_times_kept(), transaction.atomic():

            def rows(name: str) -> Iterator[dict]:
                return _member_rows(archive, path, entries[name])

            accounts = _restore_keyed(TABLES_BY_NAME["seller_accounts"], rows("seller_accounts"), ("name",), {})
            products = _restore_keyed(TABLES_BY_NAME["products"], rows("products"), ("sku",), {})
            offers = _restore_keyed(
                TABLES_BY_NAME["offers"],
                rows("offers"),
                ("account", "emag_id"),
                {"account": accounts, "product": products},
            )
            run_rows = list(rows("sync_runs"))
            runs = _restore_keyed(TABLES_BY_NAME["sync_runs"], run_rows, ("id",), {"account": accounts})
            _link_resumed_runs(run_rows, runs)
            restored = {
                "seller_accounts": len(accounts),
                "products": len(products),
                "offers": len(offers),
                "sync_runs": len(runs),
                "sync_pages": _restore_children(TABLES_BY_NAME["sync_pages"], rows("sync_pages"), runs),
                "sync_errors": _restore_children(TABLES_BY_NAME["sync_errors"], rows("sync_errors"), runs),
            }
            _reset_sequences()
            _verify(restored, expected, accounts, products, offers, runs)
    except IntegrityError as exc:
        raise BackupError(f"The archive {path} conflicts with rows in this database ({exc}). Nothing was restored.")
    return restored


def _link_resumed_runs(run_rows: list[dict], runs: dict[int, int]) -> None:
    links = {runs[row["id"]]: row["resumed_from"] for row in run_rows if row.get("resumed_from") is not None}
    present = set(SyncRun.objects.filter(pk__in=set(links.values())).values_list("pk", flat=True))
    for run_id, resumed_from in links.items():
        target = runs.get(resumed_from, resumed_from if resumed_from in present else None)
        SyncRun.objects.filter(pk=run_id).update(resumed_from_id=target)


def _reset_sequences() -> None:
    # Rows were inserted with their archived ids; PostgreSQL's sequences must move past them.
    statements = connection.ops.sequence_reset_sql(no_style(), [table.model for table in TABLES])
    if statements:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


def _verify(restored: dict, expected: dict, accounts: dict, products: dict, offers: dict, runs: dict) -> None:
    """Read back what was written: every archived key is present once, every count matches the manifest."""
    found = {
        "seller_accounts": SellerAccount.objects.filter(pk__in=list(accounts.values())).count(),
        "products": sum(
            Product.objects.filter(pk__in=chunk).count() for chunk in _chunks(list(products.values()), 5000)
        ),
        "offers": sum(Offer.objects.filter(pk__in=chunk).count() for chunk in _chunks(list(offers.values()), 5000)),
        "sync_runs": SyncRun.objects.filter(pk__in=list(runs.values())).count(),
        "sync_pages": SyncPage.objects.filter(run_id__in=list(runs.values())).count(),
        "sync_errors": SyncError.objects.filter(run_id__in=list(runs.values())).count(),
    }
    for name, count in expected.items():
        if restored[name] != count or found[name] != count:
            raise BackupError(
                f"Restore check failed for {name}: the archive holds {count} rows, {restored[name]} were written "
                f"and {found[name]} read back. Nothing was restored."
            )


def _chunks(values: list, size: int) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
