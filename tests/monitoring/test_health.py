from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_q.models import OrmQ

from emag.models import SyncRun
from monitoring import health
from tests.monitoring.conftest import make_account, make_calls, make_run

pytestmark = pytest.mark.django_db


def fired(report: dict) -> list[str]:
    return [alert["rule"] for alert in report["alerts"]]


def test_it_scores_a_quiet_healthy_system_100(fresh_account):
    make_calls(fresh_account, [100] * 20)
    report = health.evaluate()
    assert report["health_score"] == 100
    assert report["status"] == "healthy"
    assert report["alerts"] == []
    assert report["accounts"][0]["name"] == "main"
    assert report["accounts"][0]["is_overdue"] is False
    assert report["metrics"]["sync_success_rate"] == 100.0


def test_it_takes_30_when_the_error_rate_of_5_minutes_is_above_5_percent(fresh_account):
    make_calls(fresh_account, [100] * 94)
    make_calls(fresh_account, [100] * 6, outcome="server_error", status_code=500)
    make_calls(fresh_account, [100] * 50, outcome="server_error", status_code=500, seconds_ago=600)
    report = health.evaluate()
    assert fired(report) == ["error_rate"]
    assert report["health_score"] == 70
    assert report["status"] == "degraded"
    assert report["alerts"][0]["value"] == 6.0
    assert "6.0 %" in report["alerts"][0]["message"]


def test_it_does_not_fire_at_exactly_5_percent_errors(fresh_account):
    make_calls(fresh_account, [100] * 95)
    make_calls(fresh_account, [100] * 5, outcome="timeout", status_code=None)
    assert fired(health.evaluate()) == []


def test_it_takes_20_when_the_average_response_time_is_above_2_seconds(fresh_account):
    make_calls(fresh_account, [1000, 3100])
    report = health.evaluate()
    assert fired(report) == ["response_time"]
    assert report["health_score"] == 80
    assert report["alerts"][0]["value"] == 2050.0
    assert "2.05 s" in report["alerts"][0]["message"]


def test_it_takes_20_when_rate_limit_usage_is_above_80_percent(fresh_account):
    # 730 requests in 5 minutes is 146 a minute, 81.1 % of the 180 the "other" bucket allows.
    make_calls(fresh_account, [10] * 730)
    report = health.evaluate()
    assert fired(report) == ["rate_limit_usage"]
    assert report["health_score"] == 80
    assert report["alerts"][0]["value"] == 81.11


def test_it_takes_30_when_the_last_hours_syncs_succeed_below_95_percent(fresh_account):
    other = make_account("fbe", created_minutes_ago=600)
    for _ in range(18):
        make_run(other, SyncRun.Status.COMPLETED, finished_minutes_ago=10)
    make_run(other, SyncRun.Status.FAILED, finished_minutes_ago=20)
    make_run(other, SyncRun.Status.FAILED, finished_minutes_ago=90)  # outside the hour
    report = health.evaluate()
    # 19 successes (with the fixture's) of 20 decided runs: 95 %, not below.
    assert fired(report) == []
    make_run(other, SyncRun.Status.PARTIAL, finished_minutes_ago=30)
    report = health.evaluate()
    assert fired(report) == ["sync_success_rate"]
    assert report["health_score"] == 70
    assert report["alerts"][0]["value"] == round(100 * 19 / 21, 2)


def test_it_takes_30_when_an_active_accounts_last_successful_offer_sync_is_older_than_twice_its_schedule(
    fresh_account,
):
    late = make_account("fbe", interval=30, created_minutes_ago=6000)
    make_run(late, SyncRun.Status.COMPLETED, finished_minutes_ago=61)
    make_run(late, SyncRun.Status.FAILED, finished_minutes_ago=70)  # failures do not count...
    make_run(late, SyncRun.Status.COMPLETED, finished_minutes_ago=2, is_dry_run=True)  # ...nor dry runs
    make_run(late, SyncRun.Status.COMPLETED, finished_minutes_ago=2, kind=SyncRun.Kind.ORDERS)  # ...nor orders
    report = health.evaluate()
    assert fired(report) == ["sync_overdue"]
    assert report["health_score"] == 70
    assert report["alerts"][0]["value"] == ["fbe"]
    assert "fbe (61 min, schedule 30 min)" in report["alerts"][0]["message"]
    by_name = {entry["name"]: entry for entry in report["accounts"]}
    assert by_name["fbe"]["is_overdue"] is True
    assert by_name["main"]["is_overdue"] is False


def test_it_gives_a_new_account_two_schedules_before_calling_it_overdue(fresh_account):
    make_account("fbe", interval=60, created_minutes_ago=119)
    assert fired(health.evaluate()) == []
    make_account("third", interval=60, created_minutes_ago=121)
    assert fired(health.evaluate()) == ["sync_overdue"]


def test_it_ignores_inactive_accounts_for_overdue_syncs(fresh_account):
    make_account("fbe", interval=60, created_minutes_ago=6000, is_active=False)
    assert fired(health.evaluate()) == []


def test_it_takes_20_when_the_task_queue_holds_work_older_than_its_retry_window(fresh_account):
    retry = settings.Q_CLUSTER["retry"]
    OrmQ.objects.create(key="magflow", payload="x", lock=timezone.now() - timedelta(seconds=retry - 60))
    assert fired(health.evaluate()) == []
    OrmQ.objects.create(key="magflow", payload="y", lock=timezone.now() - timedelta(seconds=retry + 60))
    report = health.evaluate()
    assert fired(report) == ["queue_backlog"]
    assert report["health_score"] == 80
    assert report["metrics"]["queued_tasks"] == 2
    assert report["alerts"][0]["value"] == pytest.approx(retry + 60, abs=2)


def test_it_floors_the_score_at_0_when_every_rule_fires(fresh_account):
    make_calls(fresh_account, [3000] * 800, outcome="server_error", status_code=500)
    make_run(fresh_account, SyncRun.Status.FAILED, finished_minutes_ago=1)
    make_account("fbe", created_minutes_ago=6000)
    OrmQ.objects.create(key="magflow", payload="y", lock=timezone.now() - timedelta(days=1))
    report = health.evaluate()
    assert sorted(fired(report)) == sorted(health.PENALTIES)
    assert report["health_score"] == 0
    assert report["status"] == "critical"


@pytest.mark.parametrize(
    ("score", "status"),
    [
        (100, "healthy"),
        (90, "healthy"),
        (89, "degraded"),
        (70, "degraded"),
        (69, "warning"),
        (50, "warning"),
        (49, "critical"),
        (0, "critical"),
    ],
)
def test_it_maps_scores_to_status_bands(score, status):
    assert health.status_for(score) == status


def test_it_reads_the_age_of_the_oldest_task_in_a_redis_queue(fresh_account, settings):
    import os

    import redis
    from django_q.signing import SignedPackage

    url = os.environ.get("TEST_REDIS_URL", "")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set")
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "name": "magflow-monitoring-test", "redis": url}
    client = redis.Redis.from_url(url)
    key = "django_q:magflow-monitoring-test:q"
    client.delete(key)
    retry = settings.Q_CLUSTER["retry"]
    try:
        client.rpush(key, SignedPackage.dumps({"id": "a", "started": timezone.now() - timedelta(seconds=retry + 30)}))
        client.rpush(key, SignedPackage.dumps({"id": "b", "started": timezone.now()}))
        report = health.evaluate()
    finally:
        client.delete(key)
    assert fired(report) == ["queue_backlog"]
    assert report["metrics"]["queued_tasks"] == 2
    assert report["metrics"]["oldest_task_age_seconds"] == pytest.approx(retry + 30, abs=2)
