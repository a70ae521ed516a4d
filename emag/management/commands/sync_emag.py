"""`manage.py sync_emag [NAME …]`: sync the offers of eMAG accounts now, in parallel, with a summary.

Exit status: 0 when every run completed (with or without rejected records), 2 when any
ended partial (or was cancelled), 3 when any failed, 4 when an account was already
being synced. When several apply, the highest wins.
"""

import sys
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from emag.models import SellerAccount, SyncRun
from emag.services import SyncAlreadyRunning
from emag.sync import sync_offers

EXIT_OK = 0
EXIT_PARTIAL = 2
EXIT_FAILED = 3
EXIT_ALREADY_RUNNING = 4
EXIT_CODES = {
    SyncRun.Status.COMPLETED: EXIT_OK,
    SyncRun.Status.COMPLETED_WITH_REJECTIONS: EXIT_OK,
    SyncRun.Status.PARTIAL: EXIT_PARTIAL,
    SyncRun.Status.CANCELLED: EXIT_PARTIAL,
    SyncRun.Status.FAILED: EXIT_FAILED,
    SyncRun.Status.ABANDONED: EXIT_FAILED,
}
# Plain (non-terminal) progress: a line per account at most this often.
LOG_EVERY_SECONDS = 10.0
BAR_EVERY_SECONDS = 0.25


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise CommandError(f"expected a whole number, got {value!r}")
    if number < 1:
        raise CommandError(f"expected a number of at least 1, got {number}")
    return number


class Progress:
    """Shows each account's pages, offers and rate: a redrawn line on a terminal, plain lines otherwise."""

    def __init__(self, stream: Any, *, is_tty: bool, quiet: bool) -> None:
        self.stream = stream
        self.is_tty = is_tty
        self.quiet = quiet
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.state: dict[str, tuple[int, int, int | None, float]] = {}
        self.last_draw = 0.0
        self.last_line: dict[str, float] = {}
        self.width = 0

    def callback(self, name: str) -> Any:
        started = time.monotonic()

        def update(run: SyncRun) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            with self.lock:
                self.state[name] = (run.pages_done, run.fetched, run.expected_total, run.fetched / elapsed)
                self._show(name)

        return update

    def _show(self, name: str) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if self.is_tty:
            if now - self.last_draw < BAR_EVERY_SECONDS:
                return
            self.last_draw = now
            parts = []
            for account, (pages, fetched, total, rate) in sorted(self.state.items()):
                parts.append(f"{account} {_bar(fetched, total)} p{pages} {fetched:,}/{_total(total)} {rate:,.0f}/s")
            line = " | ".join(parts)
            self.width = max(self.width, len(line))
            self.stream.write("\r" + line.ljust(self.width), ending="")
            self.stream.flush()
        else:
            if now - self.last_line.get(name, 0.0) < LOG_EVERY_SECONDS:
                return
            self.last_line[name] = now
            pages, fetched, total, rate = self.state[name]
            self.stream.write(f"{name}: page {pages}, {fetched:,} of {_total(total)} offers read, {rate:,.0f} offers/s")

    def done(self) -> None:
        if self.is_tty and not self.quiet and self.width:
            with self.lock:
                self.stream.write("\r" + " " * self.width + "\r", ending="")
                self.stream.flush()


def _total(total: int | None) -> str:
    return f"{total:,}" if total is not None else "?"


def _bar(done: int, total: int | None, width: int = 20) -> str:
    if not total:
        return "[" + "?" * width + "]"
    filled = min(width, int(width * done / total))
    return "[" + "#" * filled + "." * (width - filled) + "]"


class Command(BaseCommand):
    help = "Sync the offers of eMAG accounts (default: every active one) into the database, in parallel."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help="Accounts to sync (default: every active one).")
        parser.add_argument("--max-pages", type=positive_int, help="Read at most this many pages per account.")
        parser.add_argument(
            "--page-size", type=positive_int, help="Offers per page (at most 100, eMAG's limit; default 100)."
        )
        parser.add_argument(
            "--include-inactive", action="store_true", help="Also sync disabled accounts (named or not)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Fetch and validate, write nothing, report what would change."
        )
        parser.add_argument(
            "--resume", action="store_true", help="Continue each account's interrupted run from its last page."
        )
        parser.add_argument("--quiet", action="store_true", help="No progress; only the summary.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["page_size"] and options["page_size"] > 100:
            raise CommandError("--page-size may be at most 100 (eMAG's limit).")
        accounts = self._accounts(options["names"], options["include_inactive"])
        if not accounts:
            raise CommandError("No account to sync: add one with `manage.py emag_account add`, or enable one.")
        progress = Progress(self.stdout, is_tty=self.stdout.isatty(), quiet=options["quiet"])
        results: dict[str, tuple[str, SyncRun | None, str]] = {}

        def sync_one(account: SellerAccount, own_connection: bool) -> None:
            try:
                run = sync_offers(
                    account,
                    trigger=SyncRun.Trigger.COMMAND,
                    max_pages=options["max_pages"],
                    page_size=options["page_size"],
                    dry_run=options["dry_run"],
                    resume=options["resume"],
                    progress=progress.callback(account.name),
                )
                results[account.name] = (run.status, run, "")
            except SyncAlreadyRunning as exc:
                results[account.name] = ("already_running", exc.run, str(exc))
            except Exception as exc:
                results[account.name] = ("error", None, f"{type(exc).__name__}: {exc}")
            finally:
                if own_connection:
                    # Each thread has its own connection: give it back, or PostgreSQL keeps it open.
                    connection.close()

        if len(accounts) == 1:
            sync_one(accounts[0], own_connection=False)
        else:
            threads = [
                threading.Thread(target=sync_one, args=(account, True), name=f"sync-{account.name}")
                for account in accounts
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        progress.done()

        code = EXIT_OK
        for account in accounts:
            status, run, message = results[account.name]
            self.stdout.write(self._summary(account, status, run, message, options["dry_run"]))
            if status == "already_running":
                code = max(code, EXIT_ALREADY_RUNNING)
            elif status == "error":
                code = max(code, EXIT_FAILED)
            else:
                code = max(code, EXIT_CODES.get(status, EXIT_FAILED))
        if code:
            sys.exit(code)

    def _accounts(self, names: list[str], include_inactive: bool) -> list[SellerAccount]:
        if not names:
            accounts = SellerAccount.objects.order_by("name")
            if not include_inactive:
                accounts = accounts.filter(is_active=True)
            return list(accounts)
        found = {account.name: account for account in SellerAccount.objects.filter(name__in=names)}
        unknown = [name for name in names if name not in found]
        if unknown:
            known = ", ".join(SellerAccount.objects.order_by("name").values_list("name", flat=True)) or "none"
            raise CommandError(f"Unknown account(s): {', '.join(unknown)}. Known accounts: {known}.")
        disabled = [name for name in names if not found[name].is_active]
        if disabled and not include_inactive:
            raise CommandError(
                f"Account(s) disabled: {', '.join(disabled)}. Pass --include-inactive to sync them anyway."
            )
        return [found[name] for name in dict.fromkeys(names)]

    def _summary(self, account: SellerAccount, status: str, run: SyncRun | None, message: str, dry_run: bool) -> str:
        if status == "already_running":
            return self.style.WARNING(f"{account.name}: already running, nothing started. {message}")
        if status == "error" or run is None:
            return self.style.ERROR(f"{account.name}: failed: {message}")
        duration = run.duration_seconds or 0.0
        rate = run.fetched / duration if duration else 0.0
        verb = "would be " if dry_run else ""
        text = (
            f"{account.name}: run #{run.pk} {run.status}{' (dry run)' if dry_run else ''} in {duration:.1f} s: "
            f"{run.fetched:,} fetched ({rate:,.0f}/s), {run.created:,} {verb}created, {run.updated:,} {verb}updated, "
            f"{run.unchanged:,} unchanged, {run.rejected:,} rejected, {run.deactivated:,} {verb}deactivated; "
            f"{run.requests_made} requests, {run.throttled} throttled, {run.retries} retries"
        )
        if run.resumed_from_id:
            text += f"; resumed run #{run.resumed_from_id} from page {run.first_page}"
        if run.error_message:
            text += f". {run.error_message}"
        if run.notes:
            text += f" Note: {run.notes}"
        if run.status in SyncRun.SUCCESS_STATUSES:
            return self.style.SUCCESS(text)
        if run.status == SyncRun.Status.PARTIAL or run.status == SyncRun.Status.CANCELLED:
            return self.style.WARNING(text)
        return self.style.ERROR(text)
