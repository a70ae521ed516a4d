import json
import re
from datetime import timedelta

from django.contrib.staticfiles import finders
from django.utils import timezone

from emag.dashboard import account_health, account_summaries, run_progress
from emag.models import SyncRun
from tests.admin.conftest import make_run


def _chart_data(response):
    match = re.search(r'<script id="mf-chart-data" type="application/json">(.*?)</script>', response.text, re.S)
    return json.loads(match.group(1))


def test_it_shows_each_account_with_its_offer_figures_and_last_sync(login, viewer, offers):
    account = offers["lamp"].account
    run = make_run(account, fetched=4, created=4)
    account.last_sync_at = run.finished_at
    account.last_sync_status = run.status
    account.save()

    response = login(viewer).get("/admin/")

    assert response.status_code == 200
    summaries = {s.account.name: s for s in response.context["summaries"]}
    main = summaries["main"]
    # "gone" is no longer on eMAG, so it is not counted.
    assert (main.offers_total, main.offers_active, main.offers_sellable, main.offers_out_of_stock) == (3, 2, 1, 1)
    assert summaries["fbe"].offers_total == 1
    assert main.last_run == run
    assert main.health.level == "ok"
    assert 'data-account="main"' in response.text and 'data-account="fbe"' in response.text
    assert f"/admin/emag/syncrun/{run.pk}/change/" in response.text


def test_it_shows_the_live_progress_of_a_running_sync(login, viewer, account):
    make_run(
        account,
        status=SyncRun.Status.RUNNING,
        ago_minutes=0,
        started_at=timezone.now() - timedelta(seconds=10),
        expected_total=300,
        fetched=100,
        pages_done=1,
    )

    response = login(viewer).get("/admin/")

    progress = response.context["summaries"][0].progress
    assert progress.pages_done == 1 and progress.pages_expected == 3
    assert 9 < progress.rate_per_second < 11
    assert 15 < progress.seconds_left < 25
    assert progress.percent == 33
    assert 'data-active="1"' in response.text
    assert "pages 1 of 3" in response.text
    assert "offers 100 of 300" in response.text


def test_it_estimates_nothing_before_a_run_has_read_anything(account):
    run = make_run(account, status=SyncRun.Status.QUEUED, started_at=None, expected_total=None, fetched=0, pages_done=0)

    progress = run_progress(run)

    assert progress.rate_per_second is None and progress.seconds_left is None and progress.percent is None


def test_it_charts_the_last_30_finished_runs_oldest_first(login, viewer, account):
    for minutes in range(35, 0, -1):
        make_run(account, ago_minutes=minutes * 10, duration=minutes, rejected=minutes % 3, fetched=300)

    data = _chart_data(login(viewer).get("/admin/"))

    runs = data[0]["runs"]
    assert data[0]["account"] == "main"
    assert len(runs) == 30
    assert runs[0]["duration"] == 30 and runs[-1]["duration"] == 1
    assert runs[-1]["rejected"] == 1
    assert runs[-1]["offers"] == 300


def test_it_leaves_failed_runs_out_of_the_offer_count_series(account):
    make_run(account, status=SyncRun.Status.FAILED, fetched=100)

    series = account_summaries()[0].chart

    assert series[0]["status"] == "failed"
    assert series[0]["offers"] is None


def test_it_links_admins_to_the_task_queue_pages(login, admin_user, viewer, account):
    admin_page = login(admin_user).get("/admin/").text
    viewer_page = login(viewer).get("/admin/").text

    assert "/admin/django_q/schedule/" in admin_page and "/admin/django_q/failure/" in admin_page
    assert "/admin/django_q/schedule/" not in viewer_page


def test_it_shows_no_dashboard_to_staff_without_emag_rights(login, db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(email="nobody@example.com", password="x-Long-passw0rd", is_staff=True)

    response = login(user).get("/admin/")

    assert response.status_code == 200
    assert "mf-dashboard" not in response.text


def test_it_ships_its_chart_script_and_styles_without_a_cdn(login, viewer, account):
    page = login(viewer).get("/admin/").text

    assert finders.find("magflow/charts.js") and finders.find("magflow/admin.css")
    assert "magflow/charts.js" in page
    assert not re.search(r'<script[^>]+src="https?://', page)


def test_health_says_error_when_emag_refused_the_login(account):
    account.auth_failed_at = timezone.now()

    assert account_health(account, None).level == "error"


def test_health_says_error_when_the_last_sync_failed(account):
    run = make_run(account, status=SyncRun.Status.FAILED, error_message="eMAG unavailable")

    health = account_health(account, run)

    assert health.level == "error" and "eMAG unavailable" in health.reason


def test_health_warns_when_no_sync_finished_for_too_long(account):
    run = make_run(account, ago_minutes=600)
    account.last_sync_at = run.finished_at

    assert account_health(account, run).label == "Out of date"


def test_health_warns_about_rejections_and_is_idle_for_an_inactive_account(account):
    run = make_run(account, status=SyncRun.Status.COMPLETED_WITH_REJECTIONS, rejected=2)
    account.last_sync_at = run.finished_at

    assert account_health(account, run).label == "Rejections"
    account.is_active = False
    assert account_health(account, run).level == "idle"


def test_health_warns_before_the_first_sync(account):
    assert account_health(account, None).label == "Never synced"
