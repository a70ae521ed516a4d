"""Manage eMAG seller accounts from the command line.

    manage.py emag_account add NAME --username U --kind main|fbe (--platform ro|bg|hu|fd-ro|fd-bg | --base-url URL)
    manage.py emag_account set-password NAME
    manage.py emag_account list
    manage.py emag_account test NAME
    manage.py emag_account disable NAME
    manage.py emag_account enable NAME

The password is read from the EMAG_PASSWORD environment variable or from standard input
(prompted without echo on a terminal), never from an argument: arguments are visible to
every user of the machine in the process list.
"""

import getpass
import os
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from emag.models import SellerAccount

PASSWORD_ENV = "EMAG_PASSWORD"
NAMED_PLATFORMS = [choice for choice in SellerAccount.Platform.values if choice != SellerAccount.Platform.CUSTOM]


class Command(BaseCommand):
    help = "Add, list, test, disable and enable eMAG seller accounts."
    # Tests hand the password in through call_command(..., stdin=StringIO(...)).
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        add = actions.add_parser("add", help="Add an account (password from EMAG_PASSWORD or standard input).")
        add.add_argument("name", help="Short unique name, such as main or fbe.")
        add.add_argument("--username", required=True, help="The eMAG API user (an e-mail address).")
        add.add_argument("--kind", required=True, choices=SellerAccount.Kind.values)
        where = add.add_mutually_exclusive_group(required=True)
        where.add_argument("--platform", choices=NAMED_PLATFORMS, help="An eMAG or Fashion Days platform.")
        where.add_argument(
            "--base-url", help="A custom API base URL, such as the sandbox's http://127.0.0.1:8001/api-3."
        )
        add.add_argument("--inactive", action="store_true", help="Create it disabled.")

        password = actions.add_parser(
            "set-password", help="Replace an account's password (from EMAG_PASSWORD or standard input)."
        )
        password.add_argument("name")

        actions.add_parser("list", help="List the accounts (never their passwords).")

        test = actions.add_parser("test", help="Make one cheap call and say whether the account can talk to eMAG.")
        test.add_argument("name")

        disable = actions.add_parser("disable", help="Stop syncing an account (kept, with its data).")
        disable.add_argument("name")

        enable = actions.add_parser("enable", help="Sync an account again.")
        enable.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdin = options.get("stdin") or sys.stdin
        action = options["action"]
        if action == "add":
            self.add(options)
        elif action == "set-password":
            self.set_password(options["name"])
        elif action == "list":
            self.list()
        elif action == "test":
            self.test(options["name"])
        elif action in ("disable", "enable"):
            self.set_active(options["name"], action == "enable")

    # --- Actions ---

    def add(self, options: dict[str, Any]) -> None:
        name = options["name"]
        if SellerAccount.objects.filter(name=name).exists():
            raise CommandError(f"An account named {name!r} already exists (use set-password to change its password).")
        account = SellerAccount(
            name=name,
            kind=options["kind"],
            username=options["username"].strip(),
            is_active=not options["inactive"],
        )
        if options["base_url"]:
            base_url = options["base_url"].strip().rstrip("/")
            try:
                URLValidator(schemes=["http", "https"])(base_url)
            except ValidationError:
                raise CommandError(f"--base-url must be an http or https URL, got {base_url!r}.")
            account.platform = SellerAccount.Platform.CUSTOM
            account.base_url = base_url
        else:
            account.platform = options["platform"]
        account.set_password(self.read_password())
        try:
            account.full_clean()
        except ValidationError as exc:
            raise CommandError(_validation_text(exc))
        account.save()
        self.stdout.write(
            self.style.SUCCESS(
                f"Added account {account.name} ({account.get_kind_display()}, {account.api_base_url}, "
                f"user {account.username}). Check it with: manage.py emag_account test {account.name}"
            )
        )

    def set_password(self, name: str) -> None:
        account = self.get_account(name)
        account.set_password(self.read_password())
        account.auth_failed_at = None
        account.save(update_fields=["password_encrypted", "auth_failed_at", "updated_at"])
        self.stdout.write(self.style.SUCCESS(f"Password of {account.name} replaced."))

    def list(self) -> None:
        accounts = list(SellerAccount.objects.order_by("name"))
        if not accounts:
            self.stdout.write("No eMAG accounts yet. Add one with: manage.py emag_account add NAME …")
            return
        header = ("NAME", "KIND", "ACTIVE", "USERNAME", "BASE URL", "PASSWORD", "LAST TEST")
        rows = [header]
        for account in accounts:
            if account.last_test_at is None:
                last_test = "never"
            else:
                verdict = "ok" if account.last_test_ok else "FAILED"
                last_test = f"{timezone.localtime(account.last_test_at):%Y-%m-%d %H:%M} {verdict}"
            if account.auth_failed_at:
                last_test += " (credentials refused)"
            rows.append(
                (
                    account.name,
                    account.kind,
                    "yes" if account.is_active else "no",
                    account.username,
                    account.api_base_url,
                    "set" if account.has_password else "MISSING",
                    last_test,
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    def test(self, name: str) -> None:
        from emag.client import EmagClient

        account = self.get_account(name)
        if not account.has_password:
            raise CommandError(f"Account {name} has no password; set one with: emag_account set-password {name}")
        with EmagClient(account) as client:
            result = client.test_connection()
        if not result.ok:
            raise CommandError(f"{account.name}: {result.message}")
        self.stdout.write(self.style.SUCCESS(f"{account.name}: {result.message}"))

    def set_active(self, name: str, is_active: bool) -> None:
        with transaction.atomic():
            account = self.get_account(name)
            account.is_active = is_active
            account.save(update_fields=["is_active", "updated_at"])
        state = "enabled" if is_active else "disabled: it will not be synced"
        self.stdout.write(self.style.SUCCESS(f"Account {account.name} {state}."))

    # --- Helpers ---

    def get_account(self, name: str) -> SellerAccount:
        try:
            return SellerAccount.objects.get(name=name)
        except SellerAccount.DoesNotExist:
            known = ", ".join(SellerAccount.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No eMAG account named {name!r} (known: {known}).")

    def read_password(self) -> str:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            password = getpass.getpass("eMAG API password: ") if self.stdin.isatty() else self.stdin.readline()
        # A trailing newline from `echo … |` or a file is not part of the password.
        password = password.rstrip("\r\n")
        if not password:
            raise CommandError(
                f"No password given: set {PASSWORD_ENV} or pass it on standard input (never as an argument)."
            )
        return password


def _validation_text(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
    return " ".join(exc.messages)
