from datetime import timedelta

import pytest

from emag.models import ApiCall
from monitoring import metrics
from monitoring.metrics import Span
from monitoring.models import ApiCallRollup
from monitoring.services import prune_api_calls
from tests.monitoring.conftest import make_account, make_calls

pytestmark = pytest.mark.django_db

DAY = 86400


def test_it_prunes_old_calls_into_rollups_that_keep_old_windows_reportable():
    main = make_account("main")
    fbe = make_account("fbe")
    make_calls(main, [100, 300], seconds_ago=20 * DAY)
    make_calls(main, [900], seconds_ago=20 * DAY, outcome="server_error", status_code=500, attempt=2, wait_ms=40)
    make_calls(main, [50], seconds_ago=20 * DAY, outcome="rate_limited", status_code=429, is_throttled=True)
    make_calls(fbe, [200, 200], seconds_ago=16 * DAY, route="order/read", bucket="orders")
    make_calls(main, [10, 20, 30], seconds_ago=60)
    month = Span.ending_now(timedelta(days=30))
    before = metrics.api_call_figures(month)
    before_main = metrics.api_call_figures(month, main.pk)

    deleted = prune_api_calls(14)

    assert deleted == 6
    assert ApiCall.objects.count() == 3
    assert ApiCallRollup.objects.count() == 2
    after = metrics.api_call_figures(month)
    after_main = metrics.api_call_figures(month, main.pk)
    for key in (
        "total_requests",
        "total_errors",
        "error_rate",
        "average_response_time",
        "max_response_time",
        "throttled_requests",
        "retried_requests",
        "rate_limit_wait_time",
        "requests_per_minute",
        "rate_limit_usage",
    ):
        assert after[key] == before[key], key
        assert after_main[key] == before_main[key], key
    # The recent window is untouched.
    assert metrics.api_call_figures(Span.ending_now(timedelta(minutes=5)))["total_requests"] == 3


def test_it_adds_late_rows_to_an_existing_rollup_instead_of_writing_it_twice():
    main = make_account("main")
    make_calls(main, [100, 200], seconds_ago=20 * DAY)
    prune_api_calls(14)
    assert prune_api_calls(14) == 0
    rollup = ApiCallRollup.objects.get()
    ApiCall.objects.create(
        account=main,
        route=rollup.route,
        bucket=rollup.bucket,
        status_code=500,
        outcome="server_error",
        duration_ms=700,
        created_at=rollup.hour + timedelta(minutes=1),
    )
    assert prune_api_calls(14) == 1
    rollup = ApiCallRollup.objects.get()
    assert (rollup.requests, rollup.errors, rollup.duration_ms_sum, rollup.duration_ms_max) == (3, 1, 1000.0, 700.0)


def test_it_keeps_the_calls_of_the_current_hour_with_zero_days():
    main = make_account("main")
    (recent,) = make_calls(main, [100], seconds_ago=0)
    make_calls(main, [5], seconds_ago=2 * 3600)
    assert prune_api_calls(0) == 1
    assert list(ApiCall.objects.values_list("duration_ms", flat=True)) == [recent.duration_ms]


def test_it_refuses_a_negative_retention():
    with pytest.raises(ValueError):
        prune_api_calls(-1)


def test_the_prune_command_uses_the_retention_setting(settings, capsys):
    from django.core.management import call_command

    settings.API_CALL_RETENTION_DAYS = 3
    main = make_account("main")
    make_calls(main, [1, 2], seconds_ago=4 * DAY)
    make_calls(main, [3], seconds_ago=2 * DAY)
    call_command("prune_api_calls")
    assert ApiCall.objects.count() == 1
    assert "2 eMAG call row(s)" in capsys.readouterr().out
