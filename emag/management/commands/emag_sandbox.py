"""`manage.py emag_sandbox`: serve the eMAG sandbox over HTTP until stopped."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from emag.sandbox import FaultSpecError, Sandbox
from emag.sandbox.handler import normalize_accounts


class Command(BaseCommand):
    help = "Serve the simulated eMAG Marketplace API (v4.4.x) over HTTP."
    # The sandbox touches neither the database nor secrets: it must start on a bare checkout.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--offers", type=int, default=250, help="Offers per account.")
        parser.add_argument("--orders", type=int, default=0, help="Orders generated per account at start.")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--account",
            action="append",
            default=[],
            metavar="USER:PASSWORD",
            help="An account (repeatable); the first is named main, the second fbe, then account3...",
        )
        parser.add_argument("--faults", default="", metavar="KIND:RATE[,KIND:RATE...]")
        parser.add_argument("--no-rate-limit", action="store_true", help="Turn eMAG's rate limits off.")
        parser.add_argument("--latency-ms", type=int, default=0, help="Added to every answer.")
        parser.add_argument(
            "--allow-ip", action="append", default=None, metavar="IP_OR_NETWORK", help="IP allow-list (repeatable)."
        )
        parser.add_argument("--ip-denied-status", type=int, default=200, choices=(200, 403))
        parser.add_argument("--retry-after", action="store_true", help="Send Retry-After on 429 (eMAG documents none).")
        parser.add_argument("--slow-seconds", type=float, default=3.0, help="Delay of a slow fault.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["offers"] < 0:
            raise CommandError("--offers must be 0 or more.")
        try:
            accounts = normalize_accounts(options["account"]) if options["account"] else None
            started = time.perf_counter()
            sandbox = Sandbox(
                seed=options["seed"],
                offers=options["offers"],
                accounts={name: (user, password) for name, user, password in accounts} if accounts else None,
                faults=options["faults"],
                rate_limit=not options["no_rate_limit"],
                latency_ms=options["latency_ms"],
                allowed_ips=options["allow_ip"],
                orders=options["orders"],
                retry_after=True if options["retry_after"] else None,
                ip_denied_status=options["ip_denied_status"],
                slow_seconds=options["slow_seconds"],
            )
            generated_in = time.perf_counter() - started
        except (FaultSpecError, ValueError) as exc:
            raise CommandError(str(exc))
        try:
            server = sandbox.serve(options["host"], options["port"], background=False)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {options['host']}:{options['port']}: {exc}")
        host, port = server.server_address[:2]
        out = self.stdout
        out.write(f"eMAG sandbox listening on http://{host}:{port}/api-3 (seed {options['seed']})")
        out.write(
            f"{options['offers']} offers per account, generated in {generated_in:.2f} s; "
            f"rate limits {'off' if options['no_rate_limit'] else 'on'}; faults: {options['faults'] or 'none'}"
        )
        for name in sandbox.account_names():
            username, password = sandbox.credentials(name)
            kind = "FBE" if sandbox.accounts[name].is_fbe else "seller-fulfilled"
            out.write(f"  account {name} ({kind}): {username} / {password}")
        out.write(f"Truth: GET http://{host}:{port}/_sandbox/catalogue/<account>, request log: /_sandbox/log")
        out.write("Stop with Ctrl-C.")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            out.write("Stopping the eMAG sandbox.")
        finally:
            server.stopping.set()
            server.server_close()
