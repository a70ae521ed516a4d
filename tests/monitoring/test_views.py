from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from emag import ratelimit
from emag.models import SyncRun
from monitoring.models import Backup
from tests.monitoring.conftest import make_account, make_calls, make_run

pytestmark = pytest.mark.django_db

BASE = "/api/v1/emag/management/"


@pytest.fixture
def viewer_client(api_client, viewer):
    api_client.force_authenticate(viewer)
    return api_client


@pytest.fixture
def admin_client(api_client, admin_user):
    api_client.force_authenticate(admin_user)
    return api_client


def test_it_serves_the_health_report_in_the_documented_shape(viewer_client, fresh_account):
    make_calls(fresh_account, [2500, 2500])
    response = viewer_client.get(BASE + "health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "health_score", "metrics", "alerts", "accounts", "timestamp"}
    assert body["health_score"] == 80
    assert body["status"] == "degraded"
    assert body["alerts"][0]["rule"] == "response_time"
    assert body["accounts"][0]["name"] == "main"
    assert body["accounts"][0]["requests_last_5m"] == 2


def test_it_refuses_management_endpoints_without_credentials(api_client):
    for path in (
        "health",
        "monitoring/metrics",
        "monitoring/sync-stats",
        "monitoring/product-stats",
        "rate-limiter/stats",
        "backups",
    ):
        response = api_client.get(BASE + path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "not_authenticated"


def test_it_reports_metrics_overall_and_per_account_over_the_window(viewer_client):
    main = make_account("main")
    fbe = make_account("fbe")
    make_calls(main, [100, 300])
    make_calls(fbe, [200], outcome="rate_limited", status_code=429, is_throttled=True)
    make_calls(fbe, [900], seconds_ago=3 * 3600)

    five = viewer_client.get(BASE + "monitoring/metrics").json()
    day = viewer_client.get(BASE + "monitoring/metrics", {"window": "24h"}).json()

    assert five["window"] == "5m"
    assert five["metrics"]["total_requests"] == 3
    assert five["metrics"]["total_errors"] == 1
    assert five["metrics"]["error_rate"] == 33.33
    assert five["metrics"]["average_response_time"] == 200.0
    assert five["metrics"]["sync_success_rate"] == 100.0
    assert [alert["rule"] for alert in five["alerts"]] == ["error_rate"]
    by_name = {row["account"]: row for row in five["accounts"]}
    assert by_name["main"]["total_requests"] == 2
    assert by_name["fbe"]["throttled_requests"] == 1
    assert day["window"] == "24h"
    assert day["metrics"]["total_requests"] == 4
    assert day["metrics"]["max_response_time"] == 900.0


def test_it_answers_a_bad_window_with_400_in_the_error_shape(viewer_client):
    response = viewer_client.get(BASE + "monitoring/metrics", {"window": "5 minutes"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "window" in error["details"]
    assert viewer_client.get(BASE + "monitoring/sync-stats", {"period": "forever"}).status_code == 400


def test_it_serves_sync_stats_for_the_period(viewer_client):
    main = make_account("main")
    make_run(main, SyncRun.Status.COMPLETED, fetched=250, duration_seconds=40)
    make_run(main, SyncRun.Status.FAILED, fetched=10, duration_seconds=20)
    make_run(main, SyncRun.Status.COMPLETED, finished_minutes_ago=3 * 24 * 60, fetched=99)
    body = viewer_client.get(BASE + "monitoring/sync-stats", {"period": "24h"}).json()
    assert body["period"] == "24h"
    assert (body["total_syncs"], body["successful_syncs"], body["failed_syncs"]) == (2, 1, 1)
    assert body["success_rate"] == 50.0
    assert body["average_duration_seconds"] == 30.0
    assert body["total_items_processed"] == 260
    assert body["accounts"][0]["account"] == "main"
    week = viewer_client.get(BASE + "monitoring/sync-stats", {"period": "7d"}).json()
    assert week["total_items_processed"] == 359


def test_it_serves_product_stats(viewer_client):
    make_account("main")
    body = viewer_client.get(BASE + "monitoring/product-stats").json()
    assert body["total_offers"] == 0
    assert body["accounts"][0]["account"] == "main"


def test_it_serves_rate_limiter_stats_and_lets_only_admins_reset_them(api_client, viewer, admin_user):
    main = make_account("main")
    for _ in range(2):
        ratelimit.acquire(main.pk, "other")
    ratelimit.acquire(main.pk, "orders")
    ratelimit.record_throttled(main.pk, "other")
    api_client.force_authenticate(viewer)

    body = api_client.get(BASE + "rate-limiter/stats").json()

    buckets = {bucket["bucket"]: bucket for bucket in body["accounts"][0]["buckets"]}
    assert buckets["other"]["requests"] == 2
    assert buckets["other"]["throttled"] == 1
    assert buckets["other"]["limit_per_minute"] == 180
    # The 429 fills the current second, so no slot is free in "other" right now.
    assert buckets["other"]["available_now"] == 0
    assert buckets["orders"]["requests"] == 1
    assert buckets["orders"]["used_last_minute"] == 1
    assert buckets["orders"]["usage_per_minute"] == round(100 / 720, 2)
    assert buckets["orders"]["available_now"] == 11

    refused = api_client.post(BASE + "rate-limiter/reset", {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    api_client.force_authenticate(admin_user)
    assert api_client.post(BASE + "rate-limiter/reset", {"account_id": 999}, format="json").status_code == 400
    reset = api_client.post(BASE + "rate-limiter/reset", {"account_id": main.pk}, format="json")
    assert reset.status_code == 200
    assert reset.json()["reset"] == "main"
    after = api_client.get(BASE + "rate-limiter/stats").json()
    assert all(bucket["requests"] == 0 for bucket in after["accounts"][0]["buckets"])


def test_admins_create_and_list_backups_and_viewers_cannot(
    api_client, viewer, admin_user, settings, tmp_path, monkeypatch
):
    settings.BACKUP_DIR = tmp_path
    # The worker's door: run queued tasks at once, in this process.
    monkeypatch.setattr(Conf, "SYNC", True)
    make_account("main")
    api_client.force_authenticate(viewer)
    assert api_client.get(BASE + "backups").status_code == 403
    assert api_client.post(BASE + "backups", {}, format="json").status_code == 403

    api_client.force_authenticate(admin_user)
    created = api_client.post(BASE + "backups", {"compress": False, "days": 7}, format="json")
    assert created.status_code == 202
    listed = api_client.get(BASE + "backups").json()["results"]
    assert listed[0]["id"] == created.json()["id"]
    assert listed[0]["status"] == "completed"
    assert listed[0]["created_by"] == admin_user.email
    assert listed[0]["counts"]["seller_accounts"] == 1
    assert (tmp_path / listed[0]["file_name"]).is_file()
    assert listed[0]["file_name"].endswith(".tar")
    assert Backup.objects.get().days == 7
    detail = api_client.get(BASE + f"backups/{listed[0]['id']}").json()
    assert detail["sha256"] == listed[0]["sha256"]
    assert api_client.post(BASE + "backups", {"days": -1}, format="json").status_code == 400


def test_the_public_health_probe_answers_ok_when_the_database_does(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_public_health_probe_answers_503_with_the_reason_when_the_database_does_not(client, monkeypatch):
    from django.db import OperationalError

    from monitoring import health

    class DownConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", DownConnection())
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "database unavailable (OperationalError)"}


def test_the_readiness_probe_checks_migrations_and_the_queue(client, settings):
    assert client.get("/health/ready").json()["status"] == "ok"
    OrmQ.objects.create(
        key="magflow", payload="x", lock=timezone.now() - timedelta(seconds=settings.Q_CLUSTER["retry"] + 5)
    )
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert "task queue holds a task waiting" in response.json()["reasons"][0]


def test_prometheus_metrics_need_the_token_or_a_staff_session(client, settings, viewer):
    settings.METRICS_TOKEN = "scrape-token-123"
    main = make_account("main")
    make_calls(main, [100, 200], outcome="ok")
    make_calls(main, [300], outcome="server_error", status_code=500)

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    scraped = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-123")
    assert scraped.status_code == 200
    text = scraped.content.decode()
    assert "magflow_health_score 70.0" in text  # one error in three calls fires the error-rate rule
    assert 'magflow_emag_requests_total{account="main"} 3.0' in text
    assert 'magflow_emag_errors_total{account="main"} 1.0' in text
    assert 'magflow_emag_response_time_seconds{account="main",statistic="max"} 0.3' in text
    assert 'magflow_rate_limiter_requests_total{account="main",bucket="other"} 0.0' in text

    plain = get_user_model().objects.create_user(email="plain@example.com", password="a-Long-test-passw0rd")
    client.force_login(plain)
    assert client.get("/metrics").status_code == 403
    client.force_login(viewer)
    assert client.get("/metrics").status_code == 200


def test_prometheus_metrics_refuse_every_token_when_none_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_staff_see_backups_and_rollups_read_only_in_the_admin(client, admin_user, viewer, tmp_path):
    backup_row = Backup.objects.create(trigger="command", directory=str(tmp_path), days=30, file_name="x.tar.gz")
    client.force_login(admin_user)
    assert client.get("/admin/monitoring/backup/").status_code == 200
    assert client.get(f"/admin/monitoring/backup/{backup_row.pk}/change/").status_code == 200
    assert client.get("/admin/monitoring/backup/add/").status_code == 403
    assert client.get("/admin/monitoring/apicallrollup/").status_code == 200
    # The admin's one rule: a model's page opens with its view permission (viewers hold view_backup).
    client.force_login(viewer)
    assert client.get("/admin/monitoring/backup/").status_code == 200
    assert client.get("/admin/monitoring/backup/add/").status_code == 403
