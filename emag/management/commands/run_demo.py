"""`make run`: the whole of MagFlow on one machine in under a minute, against the eMAG sandbox.

Migrates the database, serves the sandbox (main and FBE accounts) in this process, points two
seller accounts at it, creates the demo administrator, starts a django-q2 worker and the web
server as child processes, syncs both accounts through the worker, and says where to log in.
Ctrl-C stops everything it started; running it again reuses the database and the accounts.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError, CommandParser

from emag.models import SellerAccount, SyncRun

DEMO_ACCOUNTS = [("main", SellerAccount.Kind.MAIN), ("fbe", SellerAccount.Kind.FBE)]
STOP_GRACE_SECONDS = 10


class Command(BaseCommand):
    help = "Run the MagFlow demo: sandbox, worker, web server and a first sync of both accounts."
    # The demo administrator's documented password is refused by a system check when DEBUG is off;
    # this command only prepares data, and the servers it starts run with DEBUG=true (and run the checks).
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT") or 8000),
            help="Web server port (default $PORT or 8000).",
        )
        parser.add_argument(
            "--sandbox-port", type=int, default=8001, help="eMAG sandbox port; a free one is used if it is busy."
        )
        parser.add_argument("--offers", type=int, default=300, help="Offers per sandbox account (default 300).")
        parser.add_argument("--sync-timeout", type=float, default=50, help="Seconds to wait for the first sync.")
        parser.add_argument(
            "--exit-after-sync",
            action="store_true",
            help="Stop everything once the first sync has finished (for tests).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        # This console tells the story step by step; the libraries' own INFO lines would drown it.
        for name in ("django-q", "emag", "axes"):
            logging.getLogger(name).setLevel(logging.WARNING)
        # The children (worker, web server) inherit this: the demo is a development setup.
        os.environ["DEBUG"] = "true"
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.server = None
        log_dir = Path(settings.BASE_DIR) / "logs"
        log_dir.mkdir(exist_ok=True)

        self._check_port_free(options["port"])
        # A plain `kill` must clean up like Ctrl-C does, or the children would outlive us.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        # Started in the background by a shell, SIGINT arrives ignored; Ctrl-C must still stop us.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self._step("Migrating the database")
            call_command("migrate", interactive=False, verbosity=0)

            sandbox_port = self._start_sandbox(options["offers"], options["sandbox_port"])
            self._ensure_accounts(sandbox_port)
            password_note = self._ensure_admin()
            if "setup_schedules" in get_commands():
                self._step("Declaring the schedules")
                # Its own report (one line per schedule) would bury the steps; the admin lists the schedules.
                call_command("setup_schedules", stdout=io.StringIO())

            self._step("Starting the django-q2 worker (log: logs/worker.log)")
            self._spawn("worker", ["qcluster"], log_dir / "worker.log")
            self._step(f"Starting the web server on 127.0.0.1:{options['port']} (log: logs/web.log)")
            self._spawn("web", ["runserver", "--noreload", f"127.0.0.1:{options['port']}"], log_dir / "web.log")

            runs = self._start_first_syncs()
            self._wait_for_runs(runs, options["sync_timeout"], started)

            url = f"http://127.0.0.1:{options['port']}/admin/"
            self.stdout.write("")
            self.stdout.write(self.style.SUCCESS(f"MagFlow is running at {url}"))
            self.stdout.write(f"  Log in as {settings.DEMO_ADMIN_EMAIL} / {password_note}")
            self.stdout.write(f"  eMAG sandbox: http://127.0.0.1:{sandbox_port}/api-3 (accounts main and fbe)")
            self.stdout.write(f"  API docs: http://127.0.0.1:{options['port']}/api/docs/")
            if options["exit_after_sync"]:
                return
            self.stdout.write("Press Ctrl-C to stop everything.")
            self._watch_children()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            self._stop_all()

    # --- Steps ---

    def _step(self, message: str) -> None:
        self.stdout.write(f"· {message}")

    def _check_port_free(self, port: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise CommandError(
                    f"Port {port} is already in use. Stop what runs there, or choose another: PORT=8080 make run"
                )

    def _start_sandbox(self, offers: int, port: int) -> int:
        from emag.sandbox import Sandbox

        sandbox = Sandbox(seed=1, offers=offers)
        try:
            self.server = sandbox.serve(host="127.0.0.1", port=port)
        except OSError:
            self.server = sandbox.serve(host="127.0.0.1", port=0)
        actual = self.server.server_address[1]
        self.sandbox = sandbox
        self._step(f"eMAG sandbox serving {offers} offers per account on 127.0.0.1:{actual}")
        return actual

    def _ensure_accounts(self, sandbox_port: int) -> None:
        base_url = f"http://127.0.0.1:{sandbox_port}/api-3"
        for name, kind in DEMO_ACCOUNTS:
            username, password = self.sandbox.credentials(name)
            account, created = SellerAccount.objects.get_or_create(
                name=name, defaults={"kind": kind, "username": username}
            )
            account.kind = kind
            account.platform = SellerAccount.Platform.CUSTOM
            account.base_url = base_url
            account.username = username
            account.is_active = True
            # The sandbox answers at a new port on every start, and a refused login from an old run would linger.
            account.auth_failed_at = None
            account.set_password(password)
            account.save()
            self._step(f"{'Created' if created else 'Updated'} seller account {name} ({account.get_kind_display()})")

    def _ensure_admin(self) -> str:
        from django.contrib.auth import get_user_model

        user_model = get_user_model()
        email = settings.DEMO_ADMIN_EMAIL
        user = user_model.objects.filter(email__iexact=email).first()
        if user is None:
            user_model.objects.create_superuser(email=email, password=settings.DEMO_ADMIN_PASSWORD)
            self._step(f"Created the demo administrator {email}")
            return settings.DEMO_ADMIN_PASSWORD
        if not (user.is_staff and user.is_superuser and user.is_active):
            user.is_staff = user.is_superuser = user.is_active = True
            user.save(update_fields=["is_staff", "is_superuser", "is_active"])
        # A password someone changed since the last run is theirs to keep.
        if user.check_password(settings.DEMO_ADMIN_PASSWORD):
            return settings.DEMO_ADMIN_PASSWORD
        return "(the password you set)"

    def _spawn(self, name: str, args: list[str], log_path: Path) -> None:
        log = open(log_path, "ab")  # noqa: SIM115  (kept open for the child's whole life)
        manage = Path(settings.BASE_DIR) / "manage.py"
        process = subprocess.Popen(  # noqa: S603  (our own interpreter and manage.py, fixed arguments)
            [sys.executable, str(manage), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "DEBUG": "true", "PYTHONUNBUFFERED": "1"},
            cwd=settings.BASE_DIR,
            # Own process group: Ctrl-C reaches this command, which then stops the children in order.
            start_new_session=True,
        )
        log.close()
        self.children.append((name, process))

    def _start_first_syncs(self) -> list[SyncRun]:
        from emag.services import SyncAlreadyRunning, abandon_run, start_sync

        # Our worker has just started and is the demo's only one, so a run still marked running
        # belongs to a demo that was killed mid-sync: end it now rather than wait for its heartbeat to go stale.
        for run in SyncRun.objects.filter(
            status=SyncRun.Status.RUNNING, account__name__in=[n for n, _ in DEMO_ACCOUNTS]
        ):
            abandon_run(run, "the demo was restarted while it ran")
        runs = []
        for name, _ in DEMO_ACCOUNTS:
            account = SellerAccount.objects.get(name=name)
            try:
                runs.append(start_sync(account, trigger=SyncRun.Trigger.COMMAND))
                self._step(f"Sync of {name} queued (run #{runs[-1].pk})")
            except SyncAlreadyRunning as exc:
                # Left over from a demo stopped mid-sync: the worker picks it up, or the stale-run check ends it.
                runs.append(exc.run)
                self._step(f"A sync of {name} is already {exc.run.status} (run #{exc.run.pk}); following it")
        return runs

    def _wait_for_runs(self, runs: list[SyncRun], timeout: float, started: float) -> None:
        deadline = time.monotonic() + timeout
        pending = {run.pk for run in runs}
        last_line = ""
        while pending and time.monotonic() < deadline:
            self._fail_if_child_died()
            current = {
                run.pk: run for run in SyncRun.objects.filter(pk__in=[r.pk for r in runs]).select_related("account")
            }
            line = "  " + " · ".join(
                f"{run.account.name}: {run.status} {run.fetched}/{run.expected_total or '?'}"
                for run in current.values()
            )
            if line != last_line:
                self.stdout.write(line)
                last_line = line
            pending = {pk for pk, run in current.items() if run.is_active}
            if pending:
                time.sleep(0.5)
        if pending:
            self.stdout.write(
                self.style.WARNING(
                    f"The first sync has not finished after {timeout:.0f} s; it goes on in the background "
                    "(see Sync runs in the admin, and logs/worker.log)."
                )
            )
            return
        elapsed = time.monotonic() - started
        for run in SyncRun.objects.filter(pk__in=[r.pk for r in runs]).select_related("account"):
            style = self.style.SUCCESS if run.status in SyncRun.SUCCESS_STATUSES else self.style.WARNING
            self.stdout.write(
                style(
                    f"  {run.account.name}: {run.get_status_display().lower()}, {run.fetched} offers read, "
                    f"{run.created} new, {run.updated} changed, {run.rejected} rejected"
                )
            )
        self.stdout.write(self.style.SUCCESS(f"Both accounts synced {elapsed:.1f} s after start."))

    def _fail_if_child_died(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                raise CommandError(f"The {name} process stopped (exit code {process.returncode}); see logs/{name}.log.")

    def _watch_children(self) -> None:
        while True:
            self._fail_if_child_died()
            time.sleep(1)

    def _stop_all(self) -> None:
        for _, process in self.children:
            if process.poll() is None:
                # SIGTERM to the leader only: qcluster then stops its own workers in order (signalling the
                # whole group would kill them under it and leave it waiting). Unlike SIGINT, no shell ignores it.
                process.send_signal(signal.SIGTERM)
        for name, process in self.children:
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.stdout.write(f"The {name} process did not stop in {STOP_GRACE_SECONDS} s; killing it.")
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.children:
            self.stdout.write("Stopped the worker, the web server and the sandbox.")


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
