import pytest

from emag.models import SyncError, SyncRun
from tests.admin.conftest import make_run

CHANGELIST = "/admin/emag/syncrun/"


def _ids(response):
    return [run.pk for run in response.context["cl"].result_list]


def test_it_lists_runs_newest_first(login, viewer, account):
    old = make_run(account, ago_minutes=60)
    new = make_run(account, ago_minutes=1)

    response = login(viewer).get(CHANGELIST)

    assert _ids(response) == [new.pk, old.pk]


@pytest.mark.parametrize("query", ["account__id__exact={fbe}", "status__exact=failed", "trigger__exact=admin"])
def test_it_filters_by_account_status_and_trigger(login, viewer, account, other_account, query):
    make_run(account, ago_minutes=30)
    wanted = make_run(other_account, status=SyncRun.Status.FAILED, trigger=SyncRun.Trigger.ADMIN)

    response = login(viewer).get(f"{CHANGELIST}?{query.format(fbe=other_account.pk)}")

    assert _ids(response) == [wanted.pk]


def test_the_detail_shows_progress_counts_and_timings(login, viewer, account):
    run = make_run(account, duration=12.5, created=250, updated=40, unchanged=10, rejected=0, requests_made=5)

    text = login(viewer).get(f"{CHANGELIST}{run.pk}/change/").text

    assert "Pages 3 of 3 · offers 300 of 300" in text
    assert "12.5 s" in text
    assert "Completed" in text
    assert "No record was rejected." in text


def test_the_detail_pages_through_rejected_records_with_their_reasons(login, viewer, account):
    run = make_run(account, status=SyncRun.Status.COMPLETED_WITH_REJECTIONS, rejected=60)
    SyncError.objects.bulk_create(
        SyncError(
            run=run,
            page=1 + i // 30,
            index=i % 30,
            emag_id=1000 + i,
            sku=f"BAD-{i}",
            reason_code="negative_price",
            message=f"sale_price is negative ({i})",
            record='{"id": 1}',
        )
        for i in range(60)
    )
    client = login(viewer)

    first = client.get(f"{CHANGELIST}{run.pk}/change/").text
    second = client.get(f"{CHANGELIST}{run.pk}/change/?errors_page=2").text

    assert "Rejected records (60)" in first
    assert "sale_price is negative (0)" in first and "sale_price is negative (50)" not in first
    assert "page 1 of 2" in first
    assert "sale_price is negative (50)" in second and "sale_price is negative (0)" not in second


def test_an_operator_cancels_a_running_sync(login, operator, account):
    running = make_run(account, status=SyncRun.Status.RUNNING, ago_minutes=0)
    done = make_run(account, ago_minutes=30)

    response = login(operator).post(
        CHANGELIST, {"action": "cancel_runs", "_selected_action": [running.pk, done.pk]}, follow=True
    )

    running.refresh_from_db()
    done.refresh_from_db()
    assert running.cancel_requested or running.status == SyncRun.Status.CANCELLED
    assert done.status == SyncRun.Status.COMPLETED and not done.cancel_requested
    messages = [str(m) for m in response.context["messages"]]
    assert any("cancel requested" in m for m in messages)
    assert any(f"Run #{done.pk} has already completed" in m for m in messages)


def test_the_detail_of_a_running_sync_offers_a_cancel_button_to_operators(login, operator, viewer, account):
    running = make_run(account, status=SyncRun.Status.RUNNING, ago_minutes=0)
    url = f"{CHANGELIST}{running.pk}/change/"

    assert "Cancel this sync" in login(operator).get(url).text
    assert "Cancel this sync" not in login(viewer).get(url).text

    login(operator).post(f"{CHANGELIST}{running.pk}/cancel/")
    running.refresh_from_db()
    assert running.cancel_requested or running.status == SyncRun.Status.CANCELLED


def test_a_viewer_cannot_cancel(login, viewer, account):
    running = make_run(account, status=SyncRun.Status.RUNNING, ago_minutes=0)
    client = login(viewer)

    client.post(CHANGELIST, {"action": "cancel_runs", "_selected_action": [running.pk]})
    response = client.post(f"{CHANGELIST}{running.pk}/cancel/")

    assert response.status_code == 403
    running.refresh_from_db()
    assert running.status == SyncRun.Status.RUNNING and not running.cancel_requested


def test_runs_are_read_only(login, admin_user, account):
    run = make_run(account)
    client = login(admin_user)

    assert client.post(f"{CHANGELIST}{run.pk}/change/", {"status": "failed"}).status_code == 403
    assert client.post(f"{CHANGELIST}{run.pk}/delete/").status_code == 403
    assert client.get(f"{CHANGELIST}add/").status_code == 403
