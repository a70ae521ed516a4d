"""What the benchmarks share: the environment they run MagFlow in, the machine, and the output format."""

from __future__ import annotations

import base64
import datetime
import decimal
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
BENCH_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/magflow_bench")


def _derived_key(label: str) -> str:
    return hashlib.sha256(f"magflow-bench-{label}".encode()).hexdigest()


FERNET_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"magflow-bench-fernet").digest()).decode()


def bench_env(database_url: str = BENCH_DATABASE_URL, **extra: str) -> dict[str, str]:
    """Production-like settings (DEBUG off, real keys) for a throw-away bench database.

    The keys are derived from fixed labels so that the seeder, the server and the sync all decrypt
    the same bench account passwords; they protect nothing but benchmark data.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TEST_", "PYTEST"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "magflow.settings",
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECRET_KEY": _derived_key("secret"),
            "JWT_SIGNING_KEY": _derived_key("jwt"),
            "MAGFLOW_ENCRYPTION_KEY": FERNET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            # The load generator is one client address: DRF's per-user throttle would turn load into 429s.
            "API_THROTTLE_USER": "100000000/min",
            "API_THROTTLE_ANON": "100000000/min",
            "AXES_ENABLED": "false",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


def use_bench_env(database_url: str = BENCH_DATABASE_URL, **extra: str) -> None:
    """Put the bench environment into this process and set Django up."""
    os.environ.update(bench_env(database_url, **extra))
    for key in [k for k in os.environ if k.startswith("TEST_")]:
        del os.environ[key]
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_database(database_url: str = BENCH_DATABASE_URL, drop: bool = False) -> None:
    """Create (or re-create) the bench database on PostgreSQL and migrate it."""
    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and drop:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "--skip-checks", "-v0"],
        cwd=ROOT,
        env=bench_env(database_url),
        check=True,
    )


def machine() -> str:
    """One line: CPU model, cores, memory, OS, Python and PostgreSQL versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    except OSError:
        pass
    postgres = ""
    try:
        import psycopg

        with psycopg.connect(BENCH_DATABASE_URL.rsplit("/", 1)[0] + "/postgres") as conn:
            postgres = "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0].split()[0]
    except Exception:  # noqa: BLE001 (the machine line must not fail for want of a server)
        postgres = "PostgreSQL unreachable"
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {postgres}"
    )


# A fixed pure-Python workload shaped like an API page (dicts, decimals, dates, JSON): the same
# code on the same machine type took up to twice the CPU in one session as in another a few hours
# earlier, so every benchmark says how fast the machine was while it ran, and runs compare.
_REFERENCE_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _python_reference_round() -> None:
    rows = [
        {
            "id": i,
            "sku": f"SKU-{i:06d}",
            "price": f"{decimal.Decimal(i) / 7:.2f}",
            "at": (_REFERENCE_EPOCH + datetime.timedelta(seconds=i)).isoformat(),
        }
        for i in range(1_000)
    ]
    json.loads(json.dumps(rows))


def python_speed(batches: int = 9, rounds: int = 10) -> float:
    """Rounds per CPU second of _python_reference_round (median of `batches`): higher is faster."""
    speeds = []
    for _ in range(batches):
        started = time.process_time()
        for _ in range(rounds):
            _python_reference_round()
        speeds.append(rounds / max(time.process_time() - started, 1e-9))
    return statistics.median(speeds)


def postgres_speed(database_url: str = BENCH_DATABASE_URL, repeats: int = 5) -> float | None:
    """Millions of rows per second PostgreSQL sums from generate_series (median of `repeats`, JIT off):
    higher is faster; None without a server."""
    try:
        import psycopg

        with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres") as conn:
            conn.execute("SET jit = off")
            speeds = []
            for _ in range(repeats):
                started = time.perf_counter()
                conn.execute("SELECT sum(i) FROM generate_series(1, 1000000) AS i").fetchone()
                speeds.append(1 / (time.perf_counter() - started))
            return statistics.median(speeds)
    except Exception:  # noqa: BLE001 (the speed line must not fail for want of a server)
        return None


def machine_speed(database_url: str = BENCH_DATABASE_URL) -> str:
    """One line: how fast this machine runs now (see python_speed and postgres_speed)."""
    postgres = postgres_speed(database_url)
    postgres_text = "unreachable" if postgres is None else f"{postgres:.1f} M rows/s"
    return f"Python reference {python_speed():.0f} rounds/CPU s, PostgreSQL reference {postgres_text}"


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest-rank), 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process and its reaped children, from /proc (Linux); None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float | None:
    """CPU of every PostgreSQL process of this machine (the server, its backends, autovacuum), from /proc."""
    if not os.path.isdir("/proc"):
        return None
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as comm:
                if not comm.read().startswith("postgres"):
                    continue
        except OSError:
            continue
        total += process_cpu_seconds(int(entry)) or 0.0
    return total


def process_tree_cpu_seconds(pid: int) -> float | None:
    """process_cpu_seconds of a process plus that of its live children (gunicorn's master and workers)."""
    total = process_cpu_seconds(pid)
    if total is None:
        return None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            total += process_cpu_seconds(int(entry)) or 0.0
    return total
