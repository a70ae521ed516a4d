import gzip
import hashlib
import io
import json
import random
import tarfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from emag.models import Offer, Product, SellerAccount, SyncError, SyncPage, SyncRun
from monitoring import backup
from monitoring.models import Backup
from tests.monitoring.conftest import make_account

pytestmark = pytest.mark.django_db

MODELS = (SellerAccount, Product, Offer, SyncRun, SyncPage, SyncError)


def snapshot() -> dict[str, list[dict]]:
    """Every row of every backed-up table, every column, in id order."""
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in MODELS}


def empty_tables() -> None:
    for model in (SyncError, SyncPage, SyncRun, Offer, Product, SellerAccount):
        model.objects.all().delete()


def seed(offers_per_account: int = 1600) -> None:
    rng = random.Random(7)
    main = make_account("main")
    fbe = make_account("fbe", interval=30)
    SellerAccount.objects.filter(pk=fbe.pk).update(
        last_full_sync_at=timezone.now() - timedelta(hours=2, microseconds=123457), last_sync_status="completed"
    )
    products = Product.objects.bulk_create(
        Product(
            sku=f"SKU-{i:05d}",
            part_number_key=f"PNK{i}",
            name=f"Căști wireless „Sonic” {i}",
            brand=rng.choice(["Sony", "JBL", "Xiaomi", ""]),
            description="<p>Descriere</p>\n" * (i % 3),
            eans=[f"59{i:011d}"] if i % 4 else [],
            ean_text=f"59{i:011d}" if i % 4 else "",
            images=[{"url": f"https://img.example/{i}.jpg", "display_type": 1}],
            characteristics=[{"id": 5, "value": "Negru"}],
            family={"id": i, "name": "f"} if i % 5 == 0 else None,
            warranty=24 if i % 2 else None,
            content_hash=f"{i:032x}",
        )
        for i in range(2000 if offers_per_account >= 1000 else offers_per_account + 20)
    )
    old = timezone.now() - timedelta(days=3, microseconds=654321)
    offers = []
    for account in (main, fbe):
        for i in range(offers_per_account):
            product = products[i % len(products) if account == main else (i * 7) % len(products)]
            stock = rng.randint(0, 40)
            offers.append(
                Offer(
                    account=account,
                    product=product,
                    emag_id=(1 if account == main else 2) * 1_000_000 + i,
                    emag_offer_id=rng.choice([None, rng.randint(10**9, 10**10)]),
                    part_number_key=product.part_number_key,
                    sale_price=Decimal(rng.randint(100, 999999)) / 100,
                    recommended_price=rng.choice([None, Decimal("123.4567")]),
                    currency="RON",
                    vat_id=rng.choice([None, 1, 2]),
                    status=rng.choice([0, 1, 2]),
                    stock=[{"warehouse_id": 1, "value": stock}],
                    stock_total=stock,
                    handling_time=[{"warehouse_id": 1, "value": 1}],
                    validation_status=rng.choice([None, 9, 1]),
                    doc_errors=rng.choice([None, [{"message": "lipsă"}]]),
                    is_sellable=bool(stock),
                    raw={"id": i, "price": 12.5, "name": "ț", "nested": {"a": [1, None, True]}},
                    content_hash=f"{i:032x}",
                    first_seen_at=old,
                    last_changed_at=old + timedelta(seconds=i),
                    last_seen_at=timezone.now(),
                    is_present=i % 11 != 0,
                )
            )
    Offer.objects.bulk_create(offers, batch_size=1000)
    first = SyncRun.objects.create(
        account=main,
        trigger="schedule",
        status="partial",
        started_at=old,
        finished_at=old + timedelta(minutes=3),
        fetched=300,
        failed_pages=1,
        error_code="unavailable",
        error_message="eMAG answered 502 three times",
        parameters={"page_size": 100},
        rate_limit_wait_seconds=1.25,
    )
    second = SyncRun.objects.create(
        account=main,
        trigger="api",
        status="completed_with_rejections",
        resumed_from=first,
        started_at=old,
        finished_at=old + timedelta(minutes=9),
        fetched=1600,
        rejected=2,
    )
    SyncRun.objects.create(account=fbe, trigger="command", status="failed", error_code="auth", error_message="refused")
    for run in (first, second):
        for number in range(1, 4):
            SyncPage.objects.create(run=run, number=number, emag_ids=list(range(number * 100, number * 100 + 100)))
        SyncError.objects.create(
            run=run,
            page=2,
            index=4,
            emag_id=1_000_204,
            sku="SKU-00204",
            reason_code="negative_price",
            message="sale_price is -1",
            record='{"id": 204}',
        )
    # Older than the backup's window: left out.
    ancient = SyncRun.objects.create(account=fbe, trigger="schedule", status="completed")
    SyncRun.objects.filter(pk=ancient.pk).update(created_at=timezone.now() - timedelta(days=60))


def test_it_restores_thousands_of_offers_into_an_empty_database_to_identical_rows(tmp_path):
    seed()
    SyncRun.objects.filter(created_at__lt=timezone.now() - timedelta(days=30)).delete()
    before = snapshot()
    assert len(before["Offer"]) == 3200

    done = backup.create_backup(output_dir=tmp_path, compress=True, days=30)
    assert done.status == Backup.Status.COMPLETED
    assert done.counts == {
        "seller_accounts": 2,
        "products": 2000,
        "offers": 3200,
        "sync_runs": 3,
        "sync_pages": 6,
        "sync_errors": 2,
    }
    empty_tables()
    assert Offer.objects.count() == 0

    restored = backup.restore_archive(tmp_path / done.file_name)

    assert restored == done.counts
    assert snapshot() == before
    # New rows after a restore get fresh ids (sequences moved past the restored ones).
    assert Product.objects.create(sku="NEW").pk > max(row["id"] for row in before["Product"])


def test_it_restores_over_an_existing_database_without_duplicates(tmp_path):
    seed(offers_per_account=300)
    path, _manifest = backup.write_archive(tmp_path, compress=False, days=30)
    archived = snapshot()
    offer = Offer.objects.filter(account__name="main").first()
    Offer.objects.filter(pk=offer.pk).update(sale_price=Decimal("1.0000"), stock_total=999)
    Offer.objects.filter(account__name="fbe", emag_id=2_000_005).delete()
    SyncError.objects.all().delete()
    SellerAccount.objects.filter(name="fbe").update(sync_interval_minutes=5, username="changed@example.com")
    extra = Product.objects.create(sku="ONLY-HERE")

    backup.restore_archive(path)
    backup.restore_archive(path)

    after = snapshot()
    assert after["Product"] == archived["Product"] + [row for row in after["Product"] if row["id"] == extra.pk]
    assert [row for row in after["Offer"] if row["emag_id"] != 2_000_005] == [
        row for row in archived["Offer"] if row["emag_id"] != 2_000_005
    ]
    recreated = Offer.objects.get(account__name="fbe", emag_id=2_000_005)
    original = next(row for row in archived["Offer"] if row["emag_id"] == 2_000_005)
    assert {**original, "id": recreated.pk} == Offer.objects.filter(pk=recreated.pk).values().get()
    assert after["SellerAccount"] == archived["SellerAccount"]
    assert after["SyncRun"] == archived["SyncRun"]
    assert after["SyncPage"] == archived["SyncPage"]
    assert after["SyncError"] == archived["SyncError"]


def test_it_keeps_passwords_encrypted_in_the_archive(tmp_path):
    account = make_account("main")
    path, _manifest = backup.write_archive(tmp_path, compress=False)
    with tarfile.open(path) as archive:
        data = archive.extractfile("seller_accounts.jsonl").read().decode()
    assert "s3cret-main" not in data
    assert json.loads(data)["password_encrypted"] == account.password_encrypted
    empty_tables()
    backup.restore_archive(path)
    assert SellerAccount.objects.get(name="main").get_password() == "s3cret-main"


def test_it_writes_a_manifest_with_counts_and_checksums_and_a_whole_archive_checksum(tmp_path):
    seed(offers_per_account=10)
    path, manifest = backup.write_archive(tmp_path, compress=True, days=30)
    assert path.name.endswith(".tar.gz")
    sidecar = (tmp_path / (path.name + ".sha256")).read_text().split()
    assert sidecar == [hashlib.sha256(path.read_bytes()).hexdigest(), path.name]
    with tarfile.open(path) as archive:
        stored = json.loads(archive.extractfile("manifest.json").read())
        assert stored["format_version"] == backup.FORMAT_VERSION
        for entry in stored["tables"]:
            data = archive.extractfile(entry["file"]).read()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert data.count(b"\n") == entry["count"]
    assert {entry["name"]: entry["count"] for entry in manifest["tables"]}["offers"] == 20


def _rewrite(path: Path, member: str, change) -> None:
    """Rewrite one member of an uncompressed archive (a tampered copy, not a corrupt tar)."""
    with tarfile.open(path) as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}
    members[member] = change(members[member])
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_it_refuses_an_archive_whose_bytes_changed_and_restores_nothing(tmp_path):
    seed(offers_per_account=50)
    path, _manifest = backup.write_archive(tmp_path, compress=True, days=30)
    empty_tables()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(backup.BackupError, match="damaged.*sha256"):
        backup.restore_archive(path)
    (tmp_path / (path.name + ".sha256")).unlink()
    with pytest.raises(backup.BackupError, match="damaged"):
        backup.restore_archive(path)
    assert Offer.objects.count() == 0
    assert SellerAccount.objects.count() == 0


def test_it_refuses_a_truncated_archive(tmp_path):
    seed(offers_per_account=50)
    path, _manifest = backup.write_archive(tmp_path, compress=True, days=30)
    (tmp_path / (path.name + ".sha256")).unlink()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(backup.BackupError, match="damaged"):
        backup.restore_archive(path)


def test_it_refuses_a_member_that_does_not_match_its_checksum(tmp_path):
    seed(offers_per_account=5)
    path, _manifest = backup.write_archive(tmp_path, compress=False, days=30)
    (tmp_path / (path.name + ".sha256")).unlink()
    _rewrite(path, "offers.jsonl", lambda data: data.replace(b'"stock_total":', b'"stock_total":1', 1))
    with pytest.raises(backup.BackupError, match="offers.jsonl does not match its sha256"):
        backup.restore_archive(path)


def test_it_refuses_a_missing_row_even_with_a_matching_member_checksum(tmp_path):
    seed(offers_per_account=5)
    path, _manifest = backup.write_archive(tmp_path, compress=False, days=30)
    (tmp_path / (path.name + ".sha256")).unlink()

    def drop_last_offer(manifest_bytes: bytes) -> bytes:
        manifest = json.loads(manifest_bytes)
        for entry in manifest["tables"]:
            if entry["name"] == "offers":
                entry["count"] -= 1
        return json.dumps(manifest).encode()

    _rewrite(path, "manifest.json", drop_last_offer)
    with pytest.raises(backup.BackupError, match="content_sha256"):
        backup.restore_archive(path)


def test_it_refuses_a_file_that_is_not_an_archive_and_a_newer_format(tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(gzip.compress(b"not a tar at all"))
    with pytest.raises(backup.BackupError, match="cannot be opened"):
        backup.restore_archive(bogus)
    make_account("main")
    path, _manifest = backup.write_archive(tmp_path, compress=False)
    (tmp_path / (path.name + ".sha256")).unlink()
    _rewrite(path, "manifest.json", lambda data: data.replace(b'"format_version": 1', b'"format_version": 99'))
    with pytest.raises(backup.BackupError, match="format version 99"):
        backup.restore_archive(path)


def test_the_commands_back_up_restore_and_prune_old_archives(tmp_path, capsys):
    seed(offers_per_account=20)
    SyncRun.objects.filter(created_at__lt=timezone.now() - timedelta(days=30)).delete()
    before = snapshot()
    for _ in range(3):
        call_command("backup_emag", "--output", str(tmp_path), "--compress", "--days", "30", "--keep", "2")
    archives = sorted(p.name for p in tmp_path.glob("magflow-emag-*.tar.gz"))
    assert len(archives) == 2
    assert len(list(tmp_path.glob("*.sha256"))) == 2
    assert Backup.objects.filter(deleted_at__isnull=False).count() == 1
    empty_tables()
    call_command("restore_emag", "--check", str(tmp_path / archives[-1]))
    assert "is intact" in capsys.readouterr().out
    assert Offer.objects.count() == 0
    call_command("restore_emag", str(tmp_path / archives[-1]))
    assert snapshot() == before
    out = capsys.readouterr().out
    assert "Restored" in out and "offers 40" in out
    with pytest.raises(CommandError, match="No archive"):
        call_command("restore_emag", str(tmp_path / "missing.tar.gz"))


def test_the_scheduled_backup_writes_into_backup_dir_and_applies_the_retention(tmp_path, settings):
    settings.BACKUP_DIR = tmp_path
    settings.BACKUP_KEEP = 1
    make_account("main")
    backup.run_scheduled_backup()
    summary = backup.run_scheduled_backup()
    assert "pruned 1 old archive" in summary
    assert len(list(tmp_path.glob("magflow-emag-*.tar.gz"))) == 1
    assert Backup.objects.filter(trigger=Backup.Trigger.SCHEDULE, status=Backup.Status.COMPLETED).count() == 2


SNAPSHOT_PROCESS = """
import json
import django
django.setup()
from tests.monitoring.test_backup import snapshot
print(json.dumps(snapshot(), default=str, sort_keys=True))
"""


@pytest.mark.slow
def test_it_restores_into_a_freshly_migrated_database_in_another_process(tmp_path):
    import os
    import subprocess
    import sys

    from django.conf import settings as django_settings

    seed(offers_per_account=1000)
    SyncRun.objects.filter(created_at__lt=timezone.now() - timedelta(days=30)).delete()
    path, _manifest = backup.write_archive(tmp_path, compress=True, days=30)
    expected = json.dumps(snapshot(), default=str, sort_keys=True)
    root = Path(__file__).resolve().parents[2]
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="magflow.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        DEBUG="true",  # a management command with the development keys the tests use
        MAGFLOW_ENCRYPTION_KEY=",".join(django_settings.MAGFLOW_ENCRYPTION_KEYS),
        LOG_LEVEL="ERROR",
    )

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("manage.py", "migrate", "--noinput")
    assert "Restored" in run("manage.py", "restore_emag", str(path))
    assert run("-c", SNAPSHOT_PROCESS).strip().splitlines()[-1] == expected
