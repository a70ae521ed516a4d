"""`make run` (manage.py run_demo) on a fresh database, then again on the same one."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run_demo(database: Path) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "DJANGO_SETTINGS_MODULE")
    }
    env["DATABASE_URL"] = f"sqlite:///{database}"
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "run_demo",
            "--exit-after-sync",
            "--offers",
            "120",
            "--port",
            str(_free_port()),
            "--sandbox-port",
            "0",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _state(database: Path) -> dict:
    import sqlite3

    with sqlite3.connect(database) as connection:
        return {
            "accounts": connection.execute(
                "SELECT name, kind, platform, base_url, last_sync_status FROM emag_selleraccount ORDER BY name"
            ).fetchall(),
            "admins": connection.execute(
                "SELECT email, is_staff, is_superuser FROM accounts_user WHERE email = 'admin@example.com'"
            ).fetchall(),
            "offers": connection.execute(
                "SELECT a.name, COUNT(*) FROM emag_offer o JOIN emag_selleraccount a ON a.id = o.account_id "
                "GROUP BY a.name ORDER BY a.name"
            ).fetchall(),
            "runs": connection.execute("SELECT status FROM emag_syncrun ORDER BY id").fetchall(),
        }


def test_it_brings_everything_up_syncs_both_accounts_and_reuses_it_all_the_second_time(tmp_path):
    database = tmp_path / "demo.sqlite3"

    first = _run_demo(database)

    assert first.returncode == 0, first.stdout + first.stderr
    assert "Both accounts synced" in first.stdout, first.stdout + first.stderr
    assert "Log in as admin@example.com / secret" in first.stdout
    assert "Stopped the worker, the web server and the sandbox." in first.stdout
    state = _state(database)
    assert [row[:3] for row in state["accounts"]] == [("fbe", "fbe", "custom"), ("main", "main", "custom")]
    assert all(row[3].startswith("http://127.0.0.1:") and row[3].endswith("/api-3") for row in state["accounts"])
    assert [row[4] for row in state["accounts"]] == ["completed", "completed"]
    assert state["admins"] == [("admin@example.com", 1, 1)]
    assert state["offers"] == [("fbe", 120), ("main", 120)]

    second = _run_demo(database)

    assert second.returncode == 0, second.stdout + second.stderr
    assert "Updated seller account main" in second.stdout
    assert "Both accounts synced" in second.stdout, second.stdout + second.stderr
    state = _state(database)
    assert len(state["accounts"]) == 2 and len(state["admins"]) == 1
    assert state["offers"] == [("fbe", 120), ("main", 120)]
    assert state["runs"] == [("completed",)] * 4


def test_it_refuses_a_busy_web_port_before_touching_anything(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
        result = subprocess.run(
            [sys.executable, "manage.py", "run_demo", "--exit-after-sync", "--port", str(port)],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode != 0
    assert f"Port {port} is already in use" in result.stderr
    assert not (tmp_path / "demo.sqlite3").exists()
