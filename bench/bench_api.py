"""The REST API under load: 100,000 offers in PostgreSQL, gunicorn on loopback, wrk as the load tool.

    .venv/bin/python bench/bench_api.py [--offers 100000] [--duration 10] [--rounds 3] [--clients 1,20] [--no-sync]

For each endpoint (the offers list: a page of 50, a filter and a search; the seed-compatible products
list), at each number of concurrent clients, alone and then while a sync runs: requests/s, p50, p95,
p99 and errors. Targets: p95 under 50 ms at one client and under 150 ms at 20; zero errors.
Each figure is the median of `--rounds` windows of `--duration` seconds, taken in turns over the
endpoints so that a figure's windows fall minutes apart (this machine's speed drifts within minutes;
one window's p95 near a target was a coin toss); every window's p95 is shown beside the median.
On Linux, also the CPU each request cost gunicorn (master and workers) and PostgreSQL (the
sessions whose application_name is the server's), and, for each sync phase, the share of one core
the sync took: its worker process, its PostgreSQL sessions and the sandbox. That share says how
much of the two cores the API was left; in production the worker and eMAG are on other machines,
and only the sync's PostgreSQL sessions share the database server.

The server is `gunicorn magflow.wsgi` with DEBUG off and production settings (bench/common.py).
"While a sync runs" means a second process syncing a third account (`live`) from the HTTP sandbox
in a loop, in two ways: with eMAG's real limits on both sides (3 requests/s, as in production: at
most 300 offers/s), and with no limit at all (the hardest case for the database: the sync writes
as fast as it can). Each loop first deletes that account's offers, so every pass inserts them all
again rather than skipping unchanged rows, and then vacuums them away as autovacuum would (this
machine's PostgreSQL runs without it; 200,000 dead offers left behind made planning a search 2-7
times slower, measured with migration 0008's search table, which a production server never sees).

The load tool is wrk (`apt-get install wrk`), closed loop: N connections, each sending its next
request when the previous answer arrives. Without wrk, a threaded Python generator does the same
(it shares the two cores with the server, so its figures are a little worse).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.client import HTTPConnection
from pathlib import Path

from common import (
    BENCH_DATABASE_URL,
    PYTHON,
    ROOT,
    bench_env,
    create_database,
    machine,
    machine_speed,
    markdown_table,
    percentile,
    process_cpu_seconds,
    process_tree_cpu_seconds,
)

BENCH_USER = "bench-viewer@example.com"
BENCH_PASSWORD = "bench-Viewer-passw0rd-not-secret"
LIVE_ACCOUNT = "live"
API_APPLICATION = "magflow-bench-api"
SYNC_APPLICATION = "magflow-bench-sync"

ENDPOINTS = {
    "offers page of 50": "/api/v1/emag/offers/?page_size=50",
    "offers filtered": "/api/v1/emag/offers/?page_size=50&account=main&status=1&sellable=true&stock_min=10",
    "offers search": "/api/v1/emag/offers/?page_size=50&search=lampa",
    "products/all (seed API)": "/api/v1/emag/enhanced/products/all?account_type=both&limit=50",
}
TARGET_P95_MS = {1: 50.0, 20: 150.0}

WRK_SCRIPT = """
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50": %d, "p95": %d, "p99": %d, "max": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback)
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def prepare_database(database_url: str, offers: int, reseed: bool) -> int:
    """Make sure the bench database holds `offers` seeded offers and the bench user; returns the count."""
    create_database(database_url)
    script = f"""
import sys
sys.path.insert(0, {str(ROOT / "bench")!r})
from common import use_bench_env
use_bench_env({database_url!r})
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from emag.models import Offer
from seed_offers import seed
seeded = Offer.objects.filter(account__name__in=["main", "fbe"]).count()
if {reseed!r} or seeded != {offers}:
    print(seed({offers}, reset=True))
user, _ = get_user_model().objects.get_or_create(email={BENCH_USER!r}, defaults={{"is_staff": True}})
user.set_password({BENCH_PASSWORD!r})
user.save()
user.groups.add(Group.objects.get(name="viewer"))
print("OFFERS", Offer.objects.filter(account__name__in=["main", "fbe"]).count())
# Autovacuum's steady state, whatever an earlier run (or its sync loop) left behind.
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("VACUUM ANALYZE emag_offer")
    cursor.execute("VACUUM ANALYZE emag_product")
    cursor.execute("VACUUM ANALYZE emag_productsearch")
"""
    out = subprocess.run(
        [PYTHON, "-c", script], cwd=ROOT, env=bench_env(database_url), check=True, capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        if line.startswith("{"):
            print(f"  seeded: {line}")
    return int(out.rsplit("OFFERS", 1)[1].split()[0])


class PostgresSessions(threading.Thread):
    """The CPU of PostgreSQL's sessions by application_name: the API's (gunicorn) and the sync's.

    Sessions come and go (the sync's reader threads and heartbeat each open one per pass), and a session
    that has ended is no longer in /proc: every 0.2 s this reads each live session's CPU, and a session
    counts with the last figure read. What a session spends in its last 0.2 s is lost (Linux only).
    """

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        import psycopg

        self.connection = psycopg.connect(database_url, autocommit=True, application_name="magflow-bench-meter")
        self.seen: dict[int, tuple[str, float]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.sample()

    def sample(self) -> None:
        with self.lock:
            sessions = self.connection.execute(
                "SELECT pid, application_name FROM pg_stat_activity WHERE application_name IN (%s, %s)",
                [API_APPLICATION, SYNC_APPLICATION],
            ).fetchall()
            for pid, application in sessions:
                cpu = process_cpu_seconds(pid)
                if cpu is not None:
                    self.seen[pid] = (application, max(cpu, self.seen.get(pid, (application, 0.0))[1]))

    def cpu_seconds(self, application: str) -> float | None:
        """The CPU so far of every session of `application` seen since the start, read now."""
        if not os.path.isdir("/proc"):
            return None
        self.sample()
        with self.lock:
            return sum(cpu for name, cpu in self.seen.values() if name == application)

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            self.sample()

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        self.connection.close()


class Server:
    """gunicorn on a free loopback port, with the bench environment."""

    def __init__(self, database_url: str, workers: int, worker_class: str, threads: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [
            str(Path(PYTHON).parent / "gunicorn"),
            "magflow.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            "--threads",
            str(threads),
            "--backlog",
            "256",
            "--log-level",
            "warning",
        ]
        env = bench_env(database_url, PGAPPNAME=API_APPLICATION)  # its PostgreSQL sessions' application_name
        self.process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
        wait_for(self.base + "/health")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def login(base: str) -> str:
    body = json.dumps({"username": BENCH_USER, "password": BENCH_PASSWORD}).encode()
    request = urllib.request.Request(  # noqa: S310 (loopback)
        base + "/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.load(response)["access_token"]


def check_endpoint(base: str, token: str, path: str) -> tuple[int, int]:
    """One request before the load: it must answer 200 with JSON; returns (items on the page, bytes)."""
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        raw = response.read()
    data = json.loads(raw)
    items = data.get("results") or data.get("products") or data.get("offers") or []
    return len(items), len(raw)


def run_wrk(base: str, token: str, path: str, clients: int, duration: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        result = subprocess.run(
            [
                "wrk",
                f"-t{min(clients, 2)}",
                f"-c{clients}",
                f"-d{duration}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                base + path,
            ],
            env={**os.environ, "BENCH_TOKEN": token},
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(script.name)
    line = next(line for line in result.stdout.splitlines() if line.startswith("WRK_RESULT "))
    data = json.loads(line.split(" ", 1)[1])
    non_2xx = 0
    for text in result.stdout.splitlines():
        if "Non-2xx or 3xx responses" in text:
            non_2xx = int(text.rsplit(":", 1)[1])
    errors = data["connect"] + data["read"] + data["write"] + data["timeout"] + max(data["status"], non_2xx)
    return {
        "requests": data["requests"],
        "rps": data["requests"] / (data["duration_us"] / 1e6),
        "p50": data["p50"] / 1000,
        "p95": data["p95"] / 1000,
        "p99": data["p99"] / 1000,
        "errors": errors,
    }


def run_python_load(base: str, token: str, path: str, clients: int, duration: int) -> dict:
    """wrk's closed loop in threads, for machines without wrk."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def client() -> None:
        connection = HTTPConnection(host, int(port), timeout=10)
        local: list[float] = []
        local_errors = 0
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
                response = connection.getresponse()
                response.read()
                if response.status >= 400:
                    local_errors += 1
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except OSError:
                local_errors += 1
                connection.close()
                connection = HTTPConnection(host, int(port), timeout=10)
                continue
            local.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(local)
            errors[0] += local_errors

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "errors": errors[0],
    }


SYNC_LOOP = """
import sys, time
sys.path.insert(0, {bench!r})
from common import use_bench_env
use_bench_env({database_url!r}, EMAG_RATE_LIMIT_ENABLED={limited!r})
from emag.models import Offer, SellerAccount, SyncRun
from emag.sync import sync_offers
account, _ = SellerAccount.objects.update_or_create(
    name={live!r},
    defaults={{"kind": "main", "platform": "custom", "base_url": {base_url!r}, "username": {username!r}}},
)
account.set_password({password!r})
account.save()
SyncRun.objects.filter(account=account, status__in=["queued", "running"]).update(status="abandoned")
from django.db import connection
passes = 0
while True:
    Offer.objects.filter(account=account).delete()
    # What autovacuum does on a production server (this machine runs PostgreSQL with it off): a pass
    # leaves 20,000 dead offers, over its threshold of 20 % of the table.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE emag_offer")
    started = time.monotonic()
    run = sync_offers(account, trigger=SyncRun.Trigger.COMMAND)
    passes += 1
    took = time.monotonic() - started
    print(f"SYNC pass {{passes}}: {{run.status}} {{run.fetched}} offers in {{took:.1f}} s", flush=True)
"""


class SyncLoad:
    """The HTTP sandbox and a process syncing the `live` account from it, over and over."""

    def __init__(self, database_url: str, offers: int, *, limited: bool) -> None:
        self.database_url = database_url
        port = free_port()
        # The sync's PostgreSQL sessions carry this application_name (libpq reads PGAPPNAME).
        env = bench_env(database_url, PGAPPNAME=SYNC_APPLICATION)
        self.sandbox = subprocess.Popen(  # noqa: S603
            [
                PYTHON,
                "manage.py",
                "emag_sandbox",
                "--port",
                str(port),
                "--offers",
                str(offers),
                "--seed",
                "7",
                *([] if limited else ["--no-rate-limit"]),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base_url = f"http://127.0.0.1:{port}/api-3"
        wait_for(f"http://127.0.0.1:{port}/_sandbox/log", timeout=120)
        script = SYNC_LOOP.format(
            bench=str(ROOT / "bench"),
            database_url=database_url,
            live=LIVE_ACCOUNT,
            base_url=base_url,
            username="main@sandbox.magflow.local",
            password="sandbox-main-secret",
            limited="true" if limited else "false",
        )
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
        self.loop = subprocess.Popen(  # noqa: S603
            [PYTHON, "-c", script], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        # Let the first pass get going so the load meets a sync in full swing.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self._offers_written():
            if self.loop.poll() is not None:
                raise RuntimeError("the sync loop died: " + Path(self.log.name).read_text()[-2000:])
            time.sleep(0.5)

    def cpu_seconds(self, sessions: PostgresSessions) -> dict[str, float] | None:
        """CPU so far of the sync loop, of its PostgreSQL sessions and of the sandbox (Linux; else None)."""
        cpu = {
            "worker": process_cpu_seconds(self.loop.pid),
            "postgres": sessions.cpu_seconds(SYNC_APPLICATION),
            "sandbox": process_cpu_seconds(self.sandbox.pid),
        }
        return None if None in cpu.values() else cpu

    def _offers_written(self) -> bool:
        import psycopg

        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM emag_offer o JOIN emag_selleraccount a ON a.id = o.account_id WHERE a.name = %s",
                [LIVE_ACCOUNT],
            ).fetchone()
        return row[0] > 0

    def stop(self) -> str:
        for process in (self.loop, self.sandbox):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        text = Path(self.log.name).read_text()
        os.unlink(self.log.name)
        # Leave the bench database as seeded: the live account's rows would skew the next figures.
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            for table in ("emag_offer", "emag_apicall"):
                conn.execute(
                    f"DELETE FROM {table} WHERE account_id IN (SELECT id FROM emag_selleraccount WHERE name = %s)",
                    [LIVE_ACCOUNT],
                )
            conn.execute("VACUUM ANALYZE emag_offer, emag_apicall")
        return text


class ServerCpu:
    """CPU so far of gunicorn (master and workers) and of its PostgreSQL sessions."""

    def __init__(self, gunicorn: float | None, postgres: float | None) -> None:
        self.gunicorn, self.postgres = gunicorn, postgres

    @classmethod
    def read(cls, server: Server, sessions: PostgresSessions) -> ServerCpu:
        return cls(process_tree_cpu_seconds(server.process.pid), sessions.cpu_seconds(API_APPLICATION))

    def seconds_since(self, before: ServerCpu) -> tuple[float, float] | None:
        """(gunicorn, PostgreSQL) CPU seconds since `before`; None off Linux."""
        if None in (self.gunicorn, self.postgres, before.gunicorn, before.postgres):
            return None
        return self.gunicorn - before.gunicorn, self.postgres - before.postgres


def combine(windows: list[tuple[dict, tuple[float, float] | None]]) -> tuple[dict, tuple[float, float] | None]:
    """One figure from its windows: the median of each rate and percentile (as the sync benchmark takes
    the median of its runs), every window's p95, the errors and requests of all; and the (gunicorn,
    PostgreSQL) CPU milliseconds per request over all of them, None off Linux."""
    figures = [figure for figure, _ in windows]
    figure = {key: statistics.median(f[key] for f in figures) for key in ("rps", "p50", "p95", "p99")}
    figure["requests"] = sum(f["requests"] for f in figures)
    figure["errors"] = sum(f["errors"] for f in figures)
    figure["p95s"] = [f["p95"] for f in figures]
    spent = [cpu for _, cpu in windows]
    if None in spent or not figure["requests"]:
        return figure, None
    return figure, (
        sum(cpu[0] for cpu in spent) * 1000 / figure["requests"],
        sum(cpu[1] for cpu in spent) * 1000 / figure["requests"],
    )


def sync_share(
    sync: SyncLoad, sessions: PostgresSessions, started: dict[str, float] | None, seconds: float
) -> dict[str, float] | None:
    """The sync loop's, its PostgreSQL sessions' and the sandbox's CPU since `started`, in % of one core."""
    now = sync.cpu_seconds(sessions)
    if started is None or now is None or seconds <= 0:
        return None
    share = {key: 100 * (now[key] - started[key]) / seconds for key in ("worker", "postgres", "sandbox")}
    share["total"] = sum(share.values())
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--reseed", action="store_true", help="Seed again even if the count is right.")
    parser.add_argument("--duration", type=int, default=10, help="Seconds of each window of load.")
    parser.add_argument(
        "--rounds", type=int, default=3, help="Windows per figure, taken in turns over the endpoints (median)."
    )
    parser.add_argument("--warmup", type=int, default=3, help="Seconds of load before each endpoint's figures.")
    parser.add_argument("--clients", default="1,20", help="Concurrent clients, comma-separated.")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-sync", action="store_true", help="Skip the figures taken while a sync runs.")
    parser.add_argument("--sync-offers", type=int, default=20_000, help="Offers in the live account's sandbox.")
    parser.add_argument("--load-tool", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--database-url", default=BENCH_DATABASE_URL)
    args = parser.parse_args()

    tool = args.load_tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"
    load = run_wrk if tool == "wrk" else run_python_load
    clients = [int(c) for c in args.clients.split(",")]

    print(f"machine: {machine()}")
    print(f"machine speed before: {machine_speed(args.database_url)}", flush=True)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    count = prepare_database(args.database_url, args.offers, args.reseed)
    print(
        f"offers in the database: {count}; server: gunicorn, {args.workers} {args.worker_class} workers"
        f" x {args.threads} threads; load tool: {tool}; {args.rounds} windows of {args.duration} s per figure"
    )

    sessions = PostgresSessions(args.database_url)
    sessions.start()
    server = Server(args.database_url, args.workers, args.worker_class, args.threads)
    rows: list[list[object]] = []
    sync_rows: list[list[object]] = []
    try:
        # None: alone; True: during a sync at eMAG's limits; False: during a sync with no limit.
        phases = [None] if args.no_sync else [None, True, False]
        for during_sync in phases:
            sync = None if during_sync is None else SyncLoad(args.database_url, args.sync_offers, limited=during_sync)
            label = {None: "alone", True: "sync, eMAG limits", False: "sync, no limit"}[during_sync]
            phase_started, phase_cpu = time.monotonic(), None if sync is None else sync.cpu_seconds(sessions)
            checked: dict[str, tuple[int, int]] = {}
            try:
                for name, path in ENDPOINTS.items():
                    token = login(server.base)
                    checked[name] = check_endpoint(server.base, token, path)
                    # Warm every worker (imports, connections, caches) so the figure is the steady state.
                    load(server.base, token, path, max(clients), args.warmup)
                # Round after round over every endpoint, so that a figure's windows fall minutes apart
                # and a slow spell of the machine lands in one window of each, not in all of one.
                windows: dict[tuple[str, int], list[tuple[dict, tuple[float, float] | None]]] = {}
                for round_number in range(1, args.rounds + 1):
                    token = login(server.base)
                    for name, path in ENDPOINTS.items():
                        for n in clients:
                            before = ServerCpu.read(server, sessions)
                            window = load(server.base, token, path, n, args.duration)
                            spent = ServerCpu.read(server, sessions).seconds_since(before)
                            windows.setdefault((name, n), []).append((window, spent))
                            print(
                                f"api {name} | {n} clients | {label} | round {round_number}/{args.rounds}: "
                                f"{window['rps']:.0f} req/s, p95 {window['p95']:.1f} ms, errors {window['errors']}",
                                flush=True,
                            )
                for name in ENDPOINTS:
                    items, size = checked[name]
                    for n in clients:
                        figure, cpu = combine(windows[(name, n)])
                        target = TARGET_P95_MS.get(n)
                        verdict = "" if target is None else ("met" if figure["p95"] < target else "MISSED")
                        each = ", ".join(f"{p95:.1f}" for p95 in figure["p95s"])
                        print(
                            f"api {name} | {n} clients | {label}: {figure['rps']:.0f} req/s, "
                            f"p50 {figure['p50']:.1f} ms, p95 {figure['p95']:.1f} ms ({each}), "
                            f"p99 {figure['p99']:.1f} ms, "
                            f"errors {figure['errors']} / {figure['requests']} ({items} items, {size // 1024} KiB)"
                            + (f", p95 target {target:.0f} ms {verdict}" if target else "")
                            + (
                                f"; CPU per request: gunicorn {cpu[0]:.1f} ms, PostgreSQL {cpu[1]:.1f} ms"
                                if cpu
                                else ""
                            ),
                            flush=True,
                        )
                        rows.append(
                            [
                                name,
                                n,
                                label,
                                f"{figure['rps']:.0f}",
                                f"{figure['p50']:.1f}",
                                f"{figure['p95']:.1f} ({each})" if len(figure["p95s"]) > 1 else f"{figure['p95']:.1f}",
                                f"{figure['p99']:.1f}",
                                f"{figure['errors']}/{figure['requests']}",
                                f"< {target:.0f} ms {verdict}" if target else "",
                                f"{cpu[0]:.1f} + {cpu[1]:.1f}" if cpu else "n/a",
                            ]
                        )
            finally:
                if sync is not None:
                    share = sync_share(sync, sessions, phase_cpu, time.monotonic() - phase_started)
                    log = sync.stop()
                    passes = [line for line in log.splitlines() if line.startswith("SYNC")]
                    print(f"sync during the load: {len(passes)} full passes; " + (passes[-1] if passes else log[-500:]))
                    if share:
                        print(
                            f"sync during the load ({label}), share of one core: worker {share['worker']:.0f} %, "
                            f"its PostgreSQL sessions {share['postgres']:.0f} %, sandbox {share['sandbox']:.0f} %, "
                            f"total {share['total']:.0f} %",
                            flush=True,
                        )
                        sync_rows.append(
                            [label, len(passes)]
                            + [f"{share[key]:.0f} %" for key in ("worker", "postgres", "sandbox", "total")]
                        )
    finally:
        sessions.stop()
        server.stop()

    print()
    print(f"API under load, {count:,} offers in PostgreSQL (machine: {machine()})")
    print()
    print(
        markdown_table(
            [
                "endpoint",
                "clients",
                "sync",
                "req/s",
                "p50 ms",
                "p95 ms (median; each window)" if args.rounds > 1 else "p95 ms",
                "p99 ms",
                "errors/requests",
                "p95 target",
                "CPU ms/request (gunicorn + PostgreSQL)",
            ],
            rows,
        )
    )
    if sync_rows:
        print()
        print("The sync beside the load, as a share of one core while the figures were taken")
        print()
        print(
            markdown_table(
                ["sync", "full passes", "worker", "its PostgreSQL sessions", "sandbox", "total"],
                sync_rows,
            )
        )
    print()
    print(f"machine speed after: {machine_speed(args.database_url)}")


if __name__ == "__main__":
    main()
