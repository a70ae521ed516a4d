"""`manage.py check --deploy` with production settings: no warning at all, and real failures caught."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def _production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "TEST_", "REDIS", "PYTEST"))
    }
    env.update(
        {
            "DEBUG": "false",
            "HTTPS": "true",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "JWT_SIGNING_KEY": secrets.token_urlsafe(50),
            "MAGFLOW_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "magflow.example.com",
            "CSRF_TRUSTED_ORIGINS": "https://magflow.example.com",
            # An empty database of its own: the demo-admin check reads the user table.
            "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        }
    )
    env.update(overrides)
    return env


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_the_deploy_checks_with_production_settings(tmp_path):
    result = _check_deploy(_production_env(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_passes_the_deploy_checks_after_migrate(tmp_path):
    env = _production_env(tmp_path)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr

    result = _check_deploy(env)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("overrides", "check_id"),
    [
        ({"SECRET_KEY": ""}, "magflow.E001"),
        ({"MAGFLOW_ENCRYPTION_KEY": ""}, "magflow.E002"),
        ({"JWT_SIGNING_KEY": ""}, "magflow.E004"),
        ({"HTTPS": "false"}, "security.W004"),
    ],
)
def test_it_refuses_a_production_setting_left_at_its_development_value(tmp_path, overrides, check_id):
    env = _production_env(tmp_path, **overrides)
    if not overrides.get("SECRET_KEY", True):
        env.pop("SECRET_KEY")
    if not overrides.get("JWT_SIGNING_KEY", True):
        env.pop("JWT_SIGNING_KEY")

    result = _check_deploy(env)

    assert result.returncode != 0
    assert check_id in result.stdout + result.stderr
