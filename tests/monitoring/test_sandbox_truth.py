"""After a faulty sandbox sync, the monitoring figures equal the sandbox's own request log.

The sandbox logs every request it answered (route, status, fault); MagFlow's figures come from
the ApiCall rows the client wrote and the shared rate limiter's state. Once in this process, and
once with the sync in one process and the figures read in another.
"""

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from emag.models import ApiCall, SellerAccount
from emag.sandbox.faults import REQUEST_FAULTS
from emag.sync import sync_offers
from monitoring import metrics
from monitoring.views import rate_limiter_report
from tests.emag.sync_helpers import quick_client
from tests.emag.test_ratelimit_processes import database_url_for_subprocesses

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FAULTS = "429:0.12,500:0.08,502:0.05,iserror:0.05,badjson:0.04"


def expected_from_log(log) -> dict:
    failed = [entry for entry in log if entry.fault in REQUEST_FAULTS or entry.status >= 400]
    return {
        "total_requests": len(log),
        "total_errors": len(failed),
        "throttled_requests": sum(1 for entry in log if entry.status == 429),
        "by_route_and_status": Counter((entry.route, entry.status) for entry in log),
    }


def assert_figures_match_log(figures: dict, limiter: dict, calls: Counter, log) -> None:
    expected = expected_from_log(log)
    # The faults really happened, or this test proves nothing.
    assert expected["throttled_requests"] >= 1
    assert expected["total_errors"] > expected["throttled_requests"]
    assert figures["total_requests"] == expected["total_requests"]
    assert figures["total_errors"] == expected["total_errors"]
    assert figures["throttled_requests"] == expected["throttled_requests"]
    assert figures["error_rate"] == round(100 * expected["total_errors"] / expected["total_requests"], 2)
    assert calls == expected["by_route_and_status"]
    # Every request took one slot of the shared limiter, and every 429 was recorded there.
    assert limiter["requests"] == expected["total_requests"]
    assert limiter["throttled"] == expected["throttled_requests"]


@pytest.mark.django_db
def test_it_matches_the_sandbox_log_after_a_faulty_sync_in_this_process(sandbox, account):
    sandbox.set_faults(FAULTS)

    run = sync_offers(account, page_size=50, client=quick_client(account))

    log = [entry for entry in sandbox.request_log if entry.account == "main"]
    figures = metrics.api_call_figures(metrics.Span.ending_now(timedelta(minutes=5)), account.pk)
    limiter = {bucket["bucket"]: bucket for bucket in rate_limiter_report()["accounts"][0]["buckets"]}["other"]
    calls = Counter(ApiCall.objects.filter(account=account).values_list("route", "status_code"))
    # A request that got no HTTP answer has no status; the sandbox logs none of those here.
    assert None not in {status for _route, status in calls}
    assert_figures_match_log(figures, limiter, calls, log)
    assert ApiCall.objects.filter(account=account).exclude(run=run).count() == 0
    assert run.requests_made == len(log)


SYNC_PROCESS = """
import sys
import django
django.setup()
from emag.client import EmagClient
from emag.models import SellerAccount
from emag.sync import sync_offers
account = SellerAccount.objects.get(pk=int(sys.argv[1]))
run = sync_offers(account, page_size=25, client=EmagClient(account, sleep=lambda seconds: None))
print(run.status)
"""

FIGURES_PROCESS = """
import json, sys
from datetime import timedelta
import django
django.setup()
from emag.models import ApiCall
from monitoring import metrics
from monitoring.views import rate_limiter_report
account_id = int(sys.argv[1])
figures = metrics.api_call_figures(metrics.Span.ending_now(timedelta(minutes=10)), account_id)
limiter = rate_limiter_report()
calls = list(ApiCall.objects.filter(account_id=account_id).values_list("route", "status_code"))
print(json.dumps({"figures": figures, "limiter": limiter, "calls": calls}, default=str))
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_matches_the_sandbox_log_when_another_process_made_the_calls(tmp_path):
    from emag.sandbox import Sandbox

    sandbox = Sandbox(seed=3, offers=250, faults=FAULTS)
    server = sandbox.serve(host="127.0.0.1", port=0)
    try:
        username, password = sandbox.credentials("main")
        account = SellerAccount(
            name="main",
            platform="custom",
            base_url=f"http://127.0.0.1:{server.server_address[1]}/api-3",
            username=username,
        )
        account.set_password(password)
        account.save()
        env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
        env.update(
            DJANGO_SETTINGS_MODULE="magflow.settings",
            DATABASE_URL=database_url_for_subprocesses(tmp_path),
            MAGFLOW_ENCRYPTION_KEY=",".join(django_settings.MAGFLOW_ENCRYPTION_KEYS),
            LOG_LEVEL="ERROR",
        )

        def run(script: str) -> str:
            done = subprocess.run(
                [sys.executable, "-c", script, str(account.pk)],
                cwd=PROJECT_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            return done.stdout.strip().splitlines()[-1]

        run(SYNC_PROCESS)
        seen = json.loads(run(FIGURES_PROCESS))
    finally:
        server.stop()

    log = [entry for entry in sandbox.request_log if entry.account == "main"]
    limiter = {bucket["bucket"]: bucket for bucket in seen["limiter"]["accounts"][0]["buckets"]}["other"]
    calls = Counter((route, status) for route, status in seen["calls"])
    assert_figures_match_log(seen["figures"], limiter, calls, log)
