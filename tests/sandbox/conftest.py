import base64
import json

import pytest

from emag.sandbox import Sandbox

BASE = "https://sandbox.emag.test/api-3"


class FakeClock:
    """A clock tests move by hand, for the rate-limit windows."""

    def __init__(self, start: float = 1_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def auth_headers(sb: Sandbox, name: str = "main", content_type: str = "application/json") -> dict:
    username, password = sb.credentials(name)
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": content_type}


def call(sb: Sandbox, route: str, payload=None, name: str = "main", method: str = "POST", client_ip: str = "127.0.0.1"):
    body = json.dumps(payload) if payload is not None else ""
    return sb.handle(method, f"/api-3/{route}", auth_headers(sb, name), body, client_ip)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def quiet_sandbox(clock):
    """A small sandbox whose rate-limit clock stands still unless a test moves it (no limits hit by accident)."""
    return Sandbox(seed=1, offers=250, rate_limit=False, clock=clock)
