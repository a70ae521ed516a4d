"""Benchmark of the offer sync: the sandbox over HTTP into PostgreSQL, MagFlow's engine against the
record-by-record strategy of the system we replace (one savepoint and one update_or_create per offer).

    .venv/bin/python bench/bench_sync.py                 # 10,000 and 100,000 offers, and the rate-limited case
    .venv/bin/python bench/bench_sync.py --sizes 10000   # a quicker pass
    .venv/bin/python bench/bench_sync.py --no-rate-limited

Figures, each measured in a fresh worker process (so peak memory is that sync's own):
- offers/s end to end (HTTP reads, parsing, database writes, run bookkeeping) of a first sync into an
  empty database, for MagFlow (the median of --runs first syncs, 3 by default, each shown) and for
  the baseline, and their ratio;
- the re-run over the unchanged catalogue (MagFlow writes no offer row);
- peak resident memory of the worker (ru_maxrss), to show it does not grow with the catalogue;
- where the CPU goes (Linux): the seconds the worker, PostgreSQL and the sandbox spent on each sync,
  and the rate their sum allows on this machine's cores however well the work overlaps;
- with eMAG's limits on (sandbox and MagFlow's limiter): 10,000 offers of one account against the
  34 s the limit allows (3 requests/s: a count, 100 pages, a count), and main and FBE together.

The baseline at 100,000 offers would take many minutes; it is measured on its first
BASELINE_CAP offers (its rate is flat, every offer costs the same queries) and its rate is used.
Targets: >= 10x the baseline, >= 2,500 offers/s, memory flat; rate-limited within 5 % of 34 s,
two accounts <= 1.1x one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BENCH_DATABASE_URL,
    PYTHON,
    ROOT,
    bench_env,
    create_database,
    machine,
    machine_speed,
    markdown_table,
    postgres_cpu_seconds,
    process_cpu_seconds,
)

DATABASE_URL = BENCH_DATABASE_URL.rsplit("/", 1)[0] + "/magflow_bench_sync"
BASELINE_CAP = 10_000
RATE_LIMITED_OFFERS = 10_000
RATE_LIMITED_FLOOR_SECONDS = 34.0
TARGET_RATIO = 10.0
TARGET_RATE = 2500.0
CORES = os.cpu_count() or 1
SANDBOX_SEED = 7
CREDENTIALS = {
    "main": ("main@sandbox.magflow.local", "sandbox-main-secret"),
    "fbe": ("fbe@sandbox.magflow.local", "sandbox-fbe-secret"),
}


# --- The worker: one sync in its own process -------------------------------------------------------------------


def worker(args: argparse.Namespace) -> None:
    from common import use_bench_env

    use_bench_env(DATABASE_URL, EMAG_RATE_LIMIT_ENABLED="true" if args.rate_limited else "false")
    from emag.models import SellerAccount, SyncRun

    accounts = []
    for spec in args.accounts.split(","):
        name, sandbox_name = spec.split("=")
        username, password = CREDENTIALS[sandbox_name]
        account, _ = SellerAccount.objects.update_or_create(
            name=name,
            defaults={
                "kind": "fbe" if sandbox_name == "fbe" else "main",
                "platform": SellerAccount.Platform.CUSTOM,
                "base_url": args.base_url,
                "username": username,
            },
        )
        account.set_password(password)
        account.save()
        accounts.append(account)

    started = time.perf_counter()
    cpu_started = _own_cpu_seconds()
    if args.strategy == "magflow":
        runs = run_magflow(accounts, args.max_pages)
        seconds = time.perf_counter() - started
        result = {
            "offers": sum(run.fetched for run in runs),
            "written": sum(run.created + run.updated for run in runs),
            "unchanged": sum(run.unchanged for run in runs),
            "statuses": [run.status for run in runs],
            "requests": sum(run.requests_made for run in runs),
            "run_seconds": max(run.duration_seconds or 0 for run in runs),
            "ok": all(run.status in SyncRun.SUCCESS_STATUSES for run in runs),
        }
    else:
        offers = run_baseline(accounts[0], args.max_pages)
        seconds = time.perf_counter() - started
        result = {"offers": offers, "written": offers, "unchanged": 0, "statuses": [], "ok": True}
    result.update(
        {
            "seconds": seconds,
            "cpu_seconds": _own_cpu_seconds() - cpu_started,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )
    print("RESULT " + json.dumps(result))


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_magflow(accounts: list, max_pages: int | None) -> list:
    import threading

    from django.db import connection

    from emag.sync import sync_offers

    if len(accounts) == 1:
        return [sync_offers(accounts[0], max_pages=max_pages)]
    runs: dict[int, object] = {}

    def one(account: object) -> None:
        try:
            runs[account.pk] = sync_offers(account, max_pages=max_pages)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(account,)) for account in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return list(runs.values())


def run_baseline(account: object, max_pages: int | None) -> int:
    """The old way: per record, a savepoint and one update_or_create for the product and one for the offer."""
    from django.db import transaction
    from django.utils import timezone

    from emag.client import EmagClient
    from emag.models import Offer, Product
    from emag.parsing import ParsedOffer, parse_offer
    from emag.sync import OFFER_FIELDS, PRODUCT_FIELDS

    client = EmagClient(account)
    page = 1
    offers = 0
    while max_pages is None or page <= max_pages:
        records = client.read_offers(page=page, per_page=100)
        with transaction.atomic():
            for record in records:
                offers += 1
                parsed = parse_offer(record)
                if not isinstance(parsed, ParsedOffer):
                    continue
                try:
                    with transaction.atomic():
                        product, _ = Product.objects.update_or_create(
                            sku=parsed.sku, defaults={name: parsed.product[name] for name in PRODUCT_FIELDS}
                        )
                        now = timezone.now()
                        Offer.objects.update_or_create(
                            account=account,
                            emag_id=parsed.emag_id,
                            defaults={
                                "product": product,
                                "last_seen_at": now,
                                "last_changed_at": now,
                                **{name: parsed.offer[name] for name in OFFER_FIELDS},
                            },
                        )
                except Exception:  # noqa: BLE001, S112 (the old system logged and went on)
                    continue
        if len(records) < 100:
            break
        page += 1
    return offers


# --- The orchestrator ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SandboxProcess:
    def __init__(self, offers: int, *, rate_limited: bool) -> None:
        self.port = free_port()
        command = [
            PYTHON,
            "manage.py",
            "emag_sandbox",
            "--port",
            str(self.port),
            "--offers",
            str(offers),
            "--seed",
            str(SANDBOX_SEED),
        ]
        if not rate_limited:
            command.append("--no-rate-limit")
        self.process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=bench_env(DATABASE_URL), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.base_url = f"http://127.0.0.1:{self.port}/api-3"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_sandbox/accounts", timeout=2):  # noqa: S310
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.3)
        raise RuntimeError("the sandbox did not answer in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def reset_database() -> None:
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE emag_offer, emag_product, emag_syncerror, emag_syncpage, emag_syncrun, emag_apicall, "
            "emag_ratelimitbucket RESTART IDENTITY CASCADE"
        )


def run_worker(
    strategy: str, accounts: str, base_url: str, *, max_pages: int | None = None, rate_limited: bool = False
) -> dict:
    command = [PYTHON, str(Path(__file__).resolve()), "--worker", strategy, "--accounts", accounts]
    command += ["--base-url", base_url]
    if max_pages:
        command += ["--max-pages", str(max_pages)]
    if rate_limited:
        command.append("--rate-limited")
    env = bench_env(DATABASE_URL, EMAG_RATE_LIMIT_ENABLED="true" if rate_limited else "false")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"worker {strategy} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def run_measured(strategy: str, accounts: str, sandbox: SandboxProcess) -> dict:
    """run_worker, plus the CPU its sync cost the worker, PostgreSQL and the sandbox (Linux; else "cpu" is None).

    The three share the machine's cores, so their sum over the cores bounds the rate this
    machine can reach however well the work overlaps.
    """
    sandbox_before, postgres_before = process_cpu_seconds(sandbox.process.pid), postgres_cpu_seconds()
    result = run_worker(strategy, accounts, sandbox.base_url)
    sandbox_after, postgres_after = process_cpu_seconds(sandbox.process.pid), postgres_cpu_seconds()
    result["cpu"] = None
    if None not in (sandbox_before, sandbox_after, postgres_before, postgres_after):
        cpu = {
            "worker": result["cpu_seconds"],
            "postgres": postgres_after - postgres_before,
            "sandbox": sandbox_after - sandbox_before,
        }
        cpu["total"] = sum(cpu.values())
        result["cpu"] = cpu
    return result


def rate(result: dict) -> float:
    return result["offers"] / result["seconds"] if result["seconds"] else 0.0


def orchestrate(args: argparse.Namespace) -> None:
    print(f"# Sync benchmark — {machine()}", flush=True)
    print(f"machine speed before: {machine_speed()}", flush=True)
    create_database(DATABASE_URL, drop=True)
    rows = []
    cpu_rows: list[list] = []
    summary = []
    for size in args.sizes:
        sandbox = SandboxProcess(size, rate_limited=False)
        try:
            firsts = []
            for _ in range(args.runs):
                reset_database()
                firsts.append(run_measured("magflow", "main=main", sandbox))
            again = run_measured("magflow", "main=main", sandbox)
            reset_database()
            cap = min(size, BASELINE_CAP)
            baseline = run_worker("baseline", "main=main", sandbox.base_url, max_pages=-(-cap // 100))
        finally:
            sandbox.stop()
        printed = len(summary)
        # A first sync of 10,000 offers takes a few seconds, and this kind of machine's speed drifts by
        # tens of per cent: the figure is the median of the runs, each of them shown beside it.
        first = sorted(firsts, key=rate)[len(firsts) // 2]
        runs = ", ".join(f"{rate(result):,.0f}" for result in firsts)
        spread = f"; median of {len(firsts)} runs: {runs}" if len(firsts) > 1 else ""
        peak = max(result["peak_rss_mb"] for result in firsts)
        ratio = rate(first) / rate(baseline) if rate(baseline) else float("inf")
        note = "" if baseline["offers"] == size else f" (first {baseline['offers']:,} offers)"
        summary += [
            f"sync {size:,} offers: MagFlow {rate(first):,.0f} offers/s (target >= {TARGET_RATE:,.0f}; "
            f"{first['seconds']:.1f} s, status {first['statuses'][0]}, peak RSS {peak:.0f} MB{spread})",
            f"sync {size:,} offers: baseline {rate(baseline):,.0f} offers/s{note} "
            f"(peak RSS {baseline['peak_rss_mb']:.0f} MB)",
            f"sync {size:,} offers: MagFlow / baseline = {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x)",
            f"re-run {size:,} unchanged offers: {rate(again):,.0f} offers/s ({again['seconds']:.1f} s), "
            f"{again['written']} offers written, {again['unchanged']:,} unchanged",
        ]
        for result, label in ((first, "sync"), (again, "re-run")):
            if result.get("cpu") is not None:
                cpu = result["cpu"]
                summary.append(
                    f"{label} {size:,} offers, CPU: worker {cpu['worker']:.1f} s, PostgreSQL {cpu['postgres']:.1f} s, "
                    f"sandbox {cpu['sandbox']:.1f} s = {cpu['total']:.1f} s on {CORES} cores: at most "
                    f"{size / (cpu['total'] / CORES):,.0f} offers/s here with every core busy"
                )
                cpu_rows.append(
                    [
                        f"{size:,} {'first sync' if label == 'sync' else 're-run'}",
                        f"{cpu['worker']:.1f}",
                        f"{cpu['postgres']:.1f}",
                        f"{cpu['sandbox']:.1f}",
                        f"{cpu['total']:.1f}",
                        f"{cpu['total'] / result['seconds']:.2f}",
                        f"{size / (cpu['total'] / CORES):,.0f}",
                    ]
                )
        for line in summary[printed:]:
            print(line, flush=True)
        rows.append(
            [
                f"{size:,}",
                f"{rate(first):,.0f}" + (f" ({runs})" if len(firsts) > 1 else ""),
                f"{first['seconds']:.1f}",
                f"{rate(baseline):,.0f}{note}",
                f"{ratio:.1f}x",
                f"{rate(again):,.0f} ({again['written']} written)",
                f"{peak:.0f}",
            ]
        )

    rl_rows = []
    if args.rate_limited:
        results = {}
        for label, accounts in (
            ("one account", "rl1-main=main"),
            ("main and FBE together", "rl2-main=main,rl2-fbe=fbe"),
        ):
            sandbox = SandboxProcess(RATE_LIMITED_OFFERS, rate_limited=True)
            try:
                reset_database()
                results[label] = run_worker("magflow", accounts, sandbox.base_url, rate_limited=True)
            finally:
                sandbox.stop()
        one = results["one account"]
        two = results["main and FBE together"]
        over = one["run_seconds"] / RATE_LIMITED_FLOOR_SECONDS - 1
        factor = two["run_seconds"] / one["run_seconds"]
        summary += [
            f"rate-limited {RATE_LIMITED_OFFERS:,} offers, one account: {one['run_seconds']:.1f} s for "
            f"{one['requests']} requests ({over:+.1%} vs the {RATE_LIMITED_FLOOR_SECONDS:.0f} s floor; target <= +5%)",
            f"rate-limited {RATE_LIMITED_OFFERS:,} offers each, main and FBE together: {two['run_seconds']:.1f} s "
            f"({factor:.2f}x one account; target <= 1.1x)",
        ]
        for line in summary[-2:]:
            print(line, flush=True)
        rl_rows = [
            ["one account", f"{one['offers']:,}", one["requests"], f"{one['run_seconds']:.1f}", f"{over:+.1%}"],
            [
                "main + FBE together",
                f"{two['offers']:,}",
                two["requests"],
                f"{two['run_seconds']:.1f}",
                f"{factor:.2f}x",
            ],
        ]

    print()
    print("Sync throughput: first syncs from the HTTP sandbox (rate limit off), MagFlow against the baseline")
    print()
    print(
        markdown_table(
            [
                "offers",
                "MagFlow offers/s (median; each run)",
                "MagFlow s",
                "baseline offers/s",
                "ratio",
                "re-run offers/s",
                "peak RSS MB",
            ],
            rows,
        )
    )
    if cpu_rows:
        print()
        print("Where the CPU went")
        print()
        print(
            markdown_table(
                [
                    "CPU seconds of",
                    "worker",
                    "PostgreSQL",
                    "sandbox",
                    "total",
                    "cores busy",
                    f"offers/s ceiling on {CORES} cores",
                ],
                cpu_rows,
            )
        )
    if rl_rows:
        print()
        print("With eMAG's limits on")
        print()
        print(
            markdown_table(["rate-limited (eMAG's limits on)", "offers", "requests", "seconds", "vs target"], rl_rows)
        )
    print()
    print(f"machine speed after: {machine_speed()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--no-rate-limited", dest="rate_limited", action="store_false")
    parser.add_argument("--runs", type=int, default=3, help="First syncs of each size; the median is the figure.")
    parser.add_argument("--worker", choices=("magflow", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--accounts", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--max-pages", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rate-limited", action="store_true", dest="worker_rate_limited", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.strategy = args.worker
        args.rate_limited = args.worker_rate_limited
        worker(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
