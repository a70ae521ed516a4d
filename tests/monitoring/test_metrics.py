from datetime import timedelta

import pytest
from django.utils import timezone

from emag.models import SyncRun
from monitoring import metrics
from monitoring.metrics import InvalidWindow, Span, parse_window
from tests.monitoring.conftest import make_account, make_calls, make_run

pytestmark = pytest.mark.django_db


def five_minutes() -> Span:
    return Span.ending_now(timedelta(minutes=5))


def test_it_computes_every_request_figure_from_known_calls():
    account = make_account("main")
    make_calls(account, [100, 200, 300])
    make_calls(account, [400], outcome="server_error", status_code=500, attempt=2)
    make_calls(account, [5000], outcome="timeout", status_code=None, attempt=3, wait_ms=250)

    figures = metrics.api_call_figures(five_minutes())

    assert figures["total_requests"] == 5
    assert figures["total_errors"] == 2
    assert figures["error_rate"] == 40.0
    assert figures["requests_per_minute"] == 1.0
    assert figures["average_response_time"] == 1200.0
    assert figures["median_response_time"] == 300.0
    # numpy's linear interpolation: position 0.95 * 4 = 3.8, between 400 and 5000.
    assert figures["p95_response_time"] == 4080.0
    assert figures["max_response_time"] == 5000.0
    assert figures["retried_requests"] == 2
    assert figures["rate_limit_wait_time"] == 250.0
    # 5 requests in 5 minutes is 1 a minute of the 180 a minute the "other" bucket allows.
    assert figures["rate_limit_usage"] == round(100 / 180, 2)


def test_it_interpolates_the_median_of_an_even_number_of_calls():
    account = make_account("main")
    make_calls(account, [10, 20, 30, 40])
    figures = metrics.api_call_figures(five_minutes())
    assert figures["median_response_time"] == 25.0
    assert figures["p95_response_time"] == 38.5


def test_it_counts_throttled_requests_as_errors_and_requests():
    account = make_account("main")
    make_calls(account, [50, 50, 50])
    make_calls(account, [20], outcome="rate_limited", status_code=429, is_throttled=True)
    figures = metrics.api_call_figures(five_minutes())
    assert figures["total_requests"] == 4
    assert figures["total_errors"] == 1
    assert figures["throttled_requests"] == 1
    assert figures["error_rate"] == 25.0


def test_it_leaves_calls_outside_the_window_out():
    account = make_account("main")
    make_calls(account, [100], seconds_ago=10)
    make_calls(account, [9999], seconds_ago=45)
    make_calls(account, [7777], seconds_ago=400)
    thirty_seconds = metrics.api_call_figures(Span.ending_now(parse_window("30s")))
    assert thirty_seconds["total_requests"] == 1
    assert thirty_seconds["max_response_time"] == 100.0
    assert thirty_seconds["requests_per_minute"] == 2.0
    assert metrics.api_call_figures(five_minutes())["total_requests"] == 2
    assert metrics.api_call_figures(Span.ending_now(parse_window("1h")))["total_requests"] == 3


def test_it_reports_no_response_times_when_no_request_was_made():
    make_account("main")
    figures = metrics.api_call_figures(five_minutes())
    assert figures["total_requests"] == 0
    assert figures["error_rate"] == 0.0
    assert figures["average_response_time"] is None
    assert figures["median_response_time"] is None
    assert figures["p95_response_time"] is None
    assert figures["rate_limit_usage"] == 0.0


def test_it_separates_accounts_and_takes_the_busiest_bucket_for_rate_limit_usage():
    main = make_account("main")
    fbe = make_account("fbe")
    make_calls(main, [10] * 90)  # 18 a minute of 180: 10 %
    make_calls(main, [10] * 360, bucket="orders", route="order/read")  # 72 a minute of 720: 10 %
    make_calls(fbe, [10] * 450, outcome="server_error", status_code=502)  # 90 a minute of 180: 50 %

    assert metrics.api_call_figures(five_minutes(), main.pk)["total_requests"] == 450
    assert metrics.api_call_figures(five_minutes(), main.pk)["total_errors"] == 0
    assert metrics.api_call_figures(five_minutes(), main.pk)["rate_limit_usage"] == 10.0
    assert metrics.api_call_figures(five_minutes(), fbe.pk)["error_rate"] == 100.0
    assert metrics.api_call_figures(five_minutes(), fbe.pk)["rate_limit_usage"] == 50.0
    overall = metrics.api_call_figures(five_minutes())
    assert overall["total_requests"] == 900
    assert overall["error_rate"] == 50.0
    assert overall["rate_limit_usage"] == 50.0


def test_it_computes_sync_figures_from_the_runs_that_finished_in_the_period():
    account = make_account("main")
    make_run(account, SyncRun.Status.COMPLETED, duration_seconds=60, fetched=100)
    make_run(account, SyncRun.Status.COMPLETED_WITH_REJECTIONS, duration_seconds=120, fetched=50)
    make_run(account, SyncRun.Status.FAILED, duration_seconds=30, fetched=7)
    make_run(account, SyncRun.Status.CANCELLED, duration_seconds=30, fetched=3)
    make_run(account, SyncRun.Status.FAILED, finished_minutes_ago=60 * 25, fetched=1000)

    figures = metrics.sync_figures(Span.ending_now(parse_window("24h")))

    assert figures["total_syncs"] == 4
    assert figures["successful_syncs"] == 2
    assert figures["failed_syncs"] == 1
    assert figures["cancelled_syncs"] == 1
    assert figures["success_rate"] == 66.67
    assert figures["average_duration_seconds"] == 60.0
    assert figures["total_items_processed"] == 160


def test_it_reports_a_full_sync_success_rate_when_no_sync_finished():
    make_account("main")
    assert metrics.sync_figures(Span.ending_now(parse_window("1h")))["success_rate"] == 100.0


@pytest.mark.parametrize("value", ["", "5", "5 minutes", "-5m", "0s", "400d", "5w"])
def test_it_refuses_a_bad_window(value):
    with pytest.raises(InvalidWindow):
        parse_window(value)


def test_it_reads_the_documented_windows():
    assert parse_window(None) == timedelta(minutes=5)
    assert [parse_window(w).total_seconds() for w in metrics.WINDOW_CHOICES] == [30, 300, 3600, 86400]


def test_it_counts_offers_per_account_for_product_stats():
    from emag.models import Offer, Product

    main = make_account("main")
    fbe = make_account("fbe")
    products = [Product.objects.create(sku=f"SKU-{i}") for i in range(4)]
    old = timezone.now() - timedelta(days=3)

    def offer(account, product, emag_id, **fields):
        return Offer.objects.create(account=account, product=product, emag_id=emag_id, content_hash="x", **fields)

    offer(main, products[0], 1, status=1, is_sellable=True, stock_total=5)
    offer(main, products[1], 2, status=1, is_sellable=False, stock_total=0)
    offer(main, products[2], 3, status=0, stock_total=0, is_present=False, last_changed_at=old, last_seen_at=old)
    offer(fbe, products[0], 10, status=1, is_sellable=True, stock_total=2, last_changed_at=old)

    stats = metrics.product_stats()

    assert stats["total_products"] == 4
    assert stats["total_offers"] == 4
    assert stats["active_offers"] == 3
    assert stats["sellable_offers"] == 2
    assert stats["out_of_stock_offers"] == 1
    assert stats["changed_last_24h"] == 2
    by_name = {row["account"]: row for row in stats["accounts"]}
    assert by_name["main"]["total_offers"] == 3
    assert by_name["main"]["present_offers"] == 2
    assert by_name["main"]["out_of_stock_offers"] == 1
    assert by_name["fbe"]["sellable_offers"] == 1
    assert by_name["fbe"]["changed_last_24h"] == 0
