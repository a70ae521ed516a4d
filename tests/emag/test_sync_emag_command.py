import os
import signal
import sqlite3
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection

from emag import locks
from emag.client import EmagClient, EmagUnavailable
from emag.models import Offer, SyncRun
from emag.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_rate_limit(settings, sandbox):
    settings.EMAG_RATE_LIMIT_ENABLED = False
    sandbox.set_rate_limit(False)


def sync_emag(*args):
    """Run the command; return (exit status, output)."""
    out = StringIO()
    try:
        call_command("sync_emag", *args, stdout=out, stderr=StringIO())
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


@pytest.mark.django_db
def test_it_syncs_the_named_account_and_prints_a_summary(account, sandbox):
    code, out = sync_emag("main")

    assert code == 0
    assert "main: run #" in out and "completed" in out
    assert "250 fetched" in out and "250 created" in out
    # Not a terminal: plain progress lines, no carriage returns.
    assert "main: page 1," in out
    assert "\r" not in out
    assert Offer.objects.filter(account=account).count() == 250


@pytest.mark.django_db
def test_quiet_prints_only_the_summary(account, sandbox):
    code, out = sync_emag("main", "--quiet", "--max-pages", "1")

    assert code == 0
    assert out.strip().count("\n") == 0
    assert "100 fetched" in out


@pytest.mark.django_db
def test_a_dry_run_reports_what_would_change_and_writes_nothing(account, sandbox):
    code, out = sync_emag("main", "--dry-run", "--page-size", "50")

    assert code == 0
    assert "250 would be created" in out
    assert not Offer.objects.exists()


@pytest.mark.django_db
def test_an_account_already_syncing_exits_4_without_calling_emag(account, sandbox):
    SyncRun.objects.create(account=account, trigger=SyncRun.Trigger.API, status=SyncRun.Status.QUEUED)

    code, out = sync_emag("main")

    assert code == 4
    assert "already running" in out
    assert sandbox.request_log == []


@pytest.mark.django_db
def test_refused_credentials_exit_3(account, sandbox):
    account.set_password("wrong-password")
    account.save()

    code, out = sync_emag("main")

    assert code == 3
    assert "failed" in out
    assert "wrong-password" not in out


@pytest.mark.django_db
def test_a_page_that_keeps_failing_exits_2(account, sandbox, monkeypatch):
    original = EmagClient.read_offers

    def failing_page_two(self, page=1, per_page=100, **filters):
        if page == 2:
            raise EmagUnavailable("product_offer/read: eMAG answered 502", status_code=502)
        return original(self, page=page, per_page=per_page, **filters)

    monkeypatch.setattr(EmagClient, "read_offers", failing_page_two)

    code, out = sync_emag("main")

    assert code == 2
    assert "partial" in out


@pytest.mark.django_db
def test_unknown_and_disabled_accounts_get_a_clear_error(account, other_account, sandbox):
    other_account.is_active = False
    other_account.save()

    with pytest.raises(CommandError, match="Unknown account.*nope.*Known accounts: fbe, main"):
        call_command("sync_emag", "nope", stdout=StringIO())
    with pytest.raises(CommandError, match="--include-inactive"):
        call_command("sync_emag", "fbe", stdout=StringIO())
    assert sync_emag("fbe", "--include-inactive", "--quiet")[0] == 0


@pytest.mark.django_db
def test_page_size_above_emags_limit_is_refused(account):
    with pytest.raises(CommandError, match="at most 100"):
        call_command("sync_emag", "main", "--page-size", "500", stdout=StringIO())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_names_it_syncs_every_active_account_in_parallel(account, other_account, sandbox):
    if connection.vendor != "postgresql":
        # The in-memory test database of SQLite is shared between threads through a shared
        # cache, where a writer does not wait for another but fails at once ("table is locked").
        pytest.skip("threads writing at once need PostgreSQL (or a SQLite file), not in-memory SQLite")
    code, out = sync_emag("--quiet")

    assert code == 0
    assert "main: run #" in out and "fbe: run #" in out
    assert Offer.objects.filter(account=account).count() == 250
    assert Offer.objects.filter(account=other_account).count() == 250
    assert set(SyncRun.objects.values_list("status", flat=True)) == {SyncRun.Status.COMPLETED}


# --- SIGKILL in the middle of a run -----------------------------------------------------------------------------


def _manage(args, env, **kwargs):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), args[0], "--skip-checks", *args[1:]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


class _Database:
    """The database the subprocesses use: the test database on PostgreSQL, a migrated file on SQLite."""

    def __init__(self, tmp_path, env):
        self.is_postgres = connection.vendor == "postgresql"
        if self.is_postgres:
            s = connection.settings_dict
            self.url = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        else:
            self.path = tmp_path / "killed.sqlite3"
            self.url = f"sqlite:///{self.path}"
        env["DATABASE_URL"] = self.url
        if not self.is_postgres:
            migrate = _manage(["migrate", "--noinput"], env)
            output, _ = migrate.communicate(timeout=180)
            assert migrate.returncode == 0, output

    def rows(self, sql):
        if self.is_postgres:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        with sqlite3.connect(self.path) as db:
            return db.execute(sql).fetchall()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_sync_killed_mid_run_leaves_no_lock_and_the_next_resume_completes_without_duplicates(tmp_path):
    sandbox = Sandbox(seed=3, offers=250, rate_limit=False, latency_ms=150)
    server = sandbox.serve(port=0)
    try:
        username, password = sandbox.credentials("main")
        env = {
            **os.environ,
            "DEBUG": "true",
            "EMAG_RATE_LIMIT_ENABLED": "false",
            "SYNC_HEARTBEAT_STALE_SECONDS": "4",
            "EMAG_PASSWORD": password,
            "PYTHONUNBUFFERED": "1",
        }
        if django_settings.MAGFLOW_ENCRYPTION_KEYS:
            env["MAGFLOW_ENCRYPTION_KEY"] = ",".join(django_settings.MAGFLOW_ENCRYPTION_KEYS)
        database = _Database(tmp_path, env)
        add = _manage(
            ["emag_account", "add", "main", "--username", username, "--kind", "main", "--base-url", server.base_url],
            env,
        )
        assert add.wait(timeout=60) == 0, add.stdout.read()

        victim = _manage(["sync_emag", "main", "--page-size", "10"], env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pages = database.rows("SELECT COUNT(*) FROM emag_syncpage")[0][0]
            if pages >= 4:
                break
            assert victim.poll() is None, victim.stdout.read()
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        killed_id, status, committed = database.rows(
            "SELECT id, status, last_committed_page FROM emag_syncrun ORDER BY id DESC LIMIT 1"
        )[0]
        assert status == "running" and 4 <= committed < 25  # died in the middle, row left behind

        if database.is_postgres:
            account_id = database.rows("SELECT id FROM emag_selleraccount WHERE name = 'main'")[0][0]
            # The lock dies with the process; PostgreSQL needs a moment to notice the closed socket.
            deadline = time.monotonic() + 5
            while locks.is_locked_elsewhere(account_id) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert locks.is_locked_elsewhere(account_id) is False
        else:
            time.sleep(4.5)  # SQLite's claim is the heartbeat: let it go stale

        resume = _manage(["sync_emag", "main", "--page-size", "10", "--resume"], env)
        output, _ = resume.communicate(timeout=120)
        assert resume.returncode == 0, output

        runs = database.rows("SELECT id, status, resumed_from_id, first_page, fetched FROM emag_syncrun ORDER BY id")
        assert runs[0][:2] == (killed_id, "abandoned")
        assert runs[1][1:4] == ("completed", killed_id, committed + 1)
        assert runs[1][4] == 250  # the carried pages and the new ones, each counted once
        truth = {row["id"] for row in sandbox.catalogue("main")}
        stored = [row[0] for row in database.rows("SELECT emag_id FROM emag_offer")]
        assert len(stored) == len(set(stored)) == 250
        assert set(stored) == truth
        assert database.rows("SELECT COUNT(*) FROM emag_offer WHERE is_present = false")[0][0] == 0
    finally:
        server.stop()


def test_on_a_terminal_progress_is_one_redrawn_line():
    from django.core.management.base import OutputWrapper

    from emag.management.commands.sync_emag import Progress

    stream = StringIO()
    progress = Progress(OutputWrapper(stream), is_tty=True, quiet=False)
    update = progress.callback("main")
    update(SyncRun(pages_done=5, fetched=500, expected_total=1000))
    progress.done()

    text = stream.getvalue()
    assert text.startswith("\rmain [##########..........] p5 500/1,000")
    assert "\n" not in text
