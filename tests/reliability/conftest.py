"""Shared tools of the reliability suite: the sandbox's request-log checks, a sandbox served over HTTP,
and the environment a subprocess needs to work on the test database."""

import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

# eMAG's limits per account: (requests per second, per minute) for each rate-limit bucket.
EMAG_LIMITS = {"orders": (12, 720), "other": (3, 180)}


def bucket_of(route: str) -> str:
    return "orders" if route.startswith("order") else "other"


def busiest_windows(log, account: str | None = None) -> dict[tuple[str, str], tuple[int, int]]:
    """The most requests any sliding 1 s and 60 s window held, per (account, bucket), in a sandbox request log.

    Every request the sandbox received counts, whatever its answer: eMAG counts invalid requests too.
    """
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for entry in log:
        if entry.account is None or (account is not None and entry.account != account):
            continue
        times[(entry.account, bucket_of(entry.route))].append(entry.time)
    result = {}
    for key, stamps in times.items():
        stamps.sort()
        result[key] = (_max_in_window(stamps, 1.0), _max_in_window(stamps, 60.0))
    return result


def _max_in_window(stamps: list[float], width: float) -> int:
    best = 0
    start = 0
    for end, stamp in enumerate(stamps):
        # Half-open windows [t, t + width): a request exactly one second later is in the next one.
        while stamp - stamps[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


def assert_within_emag_limits(log, account: str | None = None) -> None:
    for (name, bucket), (per_second, per_minute) in busiest_windows(log, account).items():
        limit_second, limit_minute = EMAG_LIMITS[bucket]
        assert per_second <= limit_second, f"{name}/{bucket}: {per_second} requests in one second\n" + _requests_of(
            log, name, bucket
        )
        assert per_minute <= limit_minute, f"{name}/{bucket}: {per_minute} requests in one minute"


def _requests_of(log, account: str, bucket: str) -> str:
    """One line per request of the account in the bucket (arrival, sequence, route, status, seconds), for a
    failure's message: which requests crowded one second."""
    return "\n".join(
        f"{entry.time:.3f} #{entry.sequence} {entry.route} {entry.status} {entry.duration:.3f} s"
        for entry in log
        if entry.account == account and bucket_of(entry.route) == bucket
    )


def throttled_by_sandbox(log) -> list:
    """429 answers the sandbox's own limiter gave (not an injected 429 fault): MagFlow sent too fast."""
    return [entry for entry in log if entry.status == 429 and not (entry.fault or "").startswith("429")]


def advisory_locks_held() -> int:
    """Advisory locks held by any session of this PostgreSQL server in the test database (0 on SQLite)."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND d.datname = current_database()"
        )
        return cursor.fetchone()[0]


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


requires_postgresql = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs a PostgreSQL database that other processes can share",
)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a manage.py subprocess that works on this test's database (PostgreSQL)."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "TEST_DATABASE"))}
    env.update(
        {
            "DATABASE_URL": f"postgres://{user}{password}@{host}:{port}/{db['NAME']}",
            "DEBUG": "true",
            "CONN_MAX_AGE": "0",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
        }
    )
    keys = ",".join(settings.MAGFLOW_ENCRYPTION_KEYS)
    if keys:
        env["MAGFLOW_ENCRYPTION_KEY"] = keys
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str], **popen: object) -> subprocess.Popen:
    """Start `manage.py ARGS` in its own process group (so a SIGKILL reaches its children too)."""
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **popen,
    )


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


@pytest.fixture
def http_sandbox():
    """Start sandboxes over HTTP on 127.0.0.1 (port 0); all are stopped at the end of the test."""
    servers = []

    def start(**kwargs):
        from emag.sandbox import Sandbox

        sandbox = Sandbox(**kwargs)
        server = sandbox.serve("127.0.0.1", 0)
        servers.append(server)
        host, port = server.server_address[:2]
        return sandbox, f"http://{host}:{port}/api-3"

    yield start
    for server in servers:
        server.stop()


def make_account(name: str, kind: str, base_url: str, username: str, password: str):
    from emag.models import SellerAccount

    account = SellerAccount(
        name=name, kind=kind, platform=SellerAccount.Platform.CUSTOM, base_url=base_url, username=username
    )
    account.set_password(password)
    account.save()
    return account
