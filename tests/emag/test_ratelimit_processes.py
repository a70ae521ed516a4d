"""Two processes hammer the sandbox for the same account; the shared limiter keeps eMAG's limit.

The processes are real (`python -c`), share the test's database (a file copy of the SQLite
test database, or the PostgreSQL test database itself) or Redis, and call a sandbox served
over HTTP in this process. The sandbox's own request log is the judge.
"""

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from emag import ratelimit
from emag.models import SellerAccount

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
RUN_SECONDS = 5.0

# Each process: wait for the common start, then call product_offer/count as fast as the
# limiter allows until the common end; print what it did as one JSON line.
WORKER = """
import json, sys, time
import django
django.setup()
from emag.client import EmagClient, EmagError
from emag.models import SellerAccount

account_id, start_at, stop_at = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
client = EmagClient(SellerAccount.objects.get(pk=account_id), max_tries=1)
ok, errors = 0, {}
time.sleep(max(0.0, start_at - time.time()))
while time.time() < stop_at:
    try:
        client.count_offers()
        ok += 1
    except EmagError as exc:
        errors[exc.outcome] = errors.get(exc.outcome, 0) + 1
print(json.dumps({"ok": ok, "errors": errors, "requests": client.stats.requests,
                  "wait_seconds": client.stats.wait_seconds}))
"""


def database_url_for_subprocesses(tmp_path: Path) -> str:
    """A DATABASE_URL that reaches the data this test sees."""
    if connection.vendor == "sqlite":
        # The SQLite test database lives in memory, out of other processes' reach: copy it to a file.
        path = tmp_path / "shared.sqlite3"
        target = sqlite3.connect(path)
        connection.ensure_connection()
        connection.connection.backup(target)
        target.close()
        return f"sqlite:///{path}"
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        user = quote(db.get("USER") or "", safe="")
        password = quote(str(db.get("PASSWORD") or ""), safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        return f"postgres://{credentials}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    pytest.skip(f"no recipe to share a {connection.vendor} test database with another process")


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best = 0
    start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.fixture
def served_sandbox():
    from emag.sandbox import Sandbox

    sandbox = Sandbox(seed=7, offers=30)
    server = sandbox.serve(host="127.0.0.1", port=0)
    yield sandbox, server.server_address[1]
    server.stop()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", ["database", "redis"])
def test_two_processes_never_exceed_three_requests_a_second(backend, served_sandbox, tmp_path, settings):
    if backend == "redis" and not TEST_REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    sandbox, port = served_sandbox
    username, password = sandbox.credentials("main")
    account = SellerAccount(
        name="main", platform="custom", base_url=f"http://127.0.0.1:{port}/api-3", username=username
    )
    account.set_password(password)
    account.save()

    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="magflow.settings",
        DATABASE_URL=database_url_for_subprocesses(tmp_path),
        EMAG_RATE_LIMIT_ENABLED="true",
        MAGFLOW_ENCRYPTION_KEY=",".join(django_settings.MAGFLOW_ENCRYPTION_KEYS),
        LOG_LEVEL="WARNING",
    )
    if backend == "redis":
        settings.REDIS_URL = TEST_REDIS_URL
        ratelimit.reset()  # stale keys of an earlier run with the same account id
        env["REDIS_URL"] = TEST_REDIS_URL

    start_at = time.time() + 3.0  # both processes are up and connected by then
    stop_at = start_at + RUN_SECONDS
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(account.pk), str(start_at), str(stop_at)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    if backend == "redis":
        ratelimit.reset()

    log = [entry for entry in sandbox.request_log if entry.account == "main"]
    statuses = [entry.status for entry in log]
    times = sorted(entry.time for entry in log)
    per_second = max_in_any_window(times)
    tightest = min(times[i + 3] - times[i] for i in range(len(times) - 3))
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(
        f"{backend} on {connection.vendor}: {len(log)} requests at {rate:.2f}/s; max in any 1 s window "
        f"{per_second}; tightest span of 4 consecutive requests {tightest:.3f} s; per process {reports}"
    )

    assert 429 not in statuses
    assert per_second <= 3
    assert all(report["errors"] == {} for report in reports)
    assert all(report["ok"] >= 2 for report in reports), "both processes got slots"
    # The limiter is not merely slow: together they use most of the budget (3/s, less the margin).
    assert len(log) >= 2.2 * RUN_SECONDS
    assert len(log) == sum(report["requests"] for report in reports)
