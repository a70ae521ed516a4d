import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[2]


def test_it_refuses_a_bad_fault_spec():
    with pytest.raises(CommandError, match="Unknown fault kind"):
        call_command("emag_sandbox", "--port", "0", "--faults", "boom:0.1")


def test_it_refuses_a_malformed_account():
    with pytest.raises(CommandError, match="USER:PASSWORD"):
        call_command("emag_sandbox", "--port", "0", "--account", "no-password")


def test_it_serves_over_http_and_prints_the_accounts(mocked_responses):
    mocked_responses.add_passthru("http://127.0.0.1")
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "emag_sandbox", "--port", "0", "--offers", "30", "--account", "a@x.ro:pw-a",
         "--account", "b@x.ro:pw-b", "--faults", "badrecord:0", "--no-rate-limit"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if line.startswith("Stop with") or not line:
                break
        output = "".join(lines)
        assert "account main (seller-fulfilled): a@x.ro / pw-a" in output
        assert "account fbe (FBE): b@x.ro / pw-b" in output
        url = next(word for word in output.split() if word.startswith("http://127.0.0.1:") and word.endswith("/api-3"))
        statuses = []
        for _ in range(10):
            response = requests.post(
                f"{url}/product_offer/read", auth=("a@x.ro", "pw-a"), json={"currentPage": 1, "itemsPerPage": 100},
                timeout=10,
            )  # fmt: skip
            statuses.append(response.status_code)
        assert set(statuses) == {200}  # --no-rate-limit
        assert len(response.json()["results"]) == 30
    finally:
        process.terminate()
        process.wait(timeout=10)
