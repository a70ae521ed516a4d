import requests

from emag.sandbox import Sandbox

from .conftest import BASE, auth_headers, call


def _statuses(sb, route, n, name="main"):
    return [call(sb, route, {}, name=name).status for _ in range(n)]


def test_it_allows_three_requests_a_second_and_throttles_the_fourth_like_emag(clock):
    sb = Sandbox(seed=1, offers=20, clock=clock)
    assert _statuses(sb, "product_offer/read", 4) == [200, 200, 200, 429]
    throttled = call(sb, "product_offer/read", {})
    assert throttled.status == 429
    assert throttled.headers["Content-Type"] == "application/json; charset=utf-8"
    assert throttled.json() == {"message": "API rate limit exceeded"}
    assert "Retry-After" not in throttled.headers
    clock.advance(1.01)
    assert _statuses(sb, "product_offer/count", 4) == [200, 200, 200, 429]


def test_it_counts_everything_but_orders_together_and_orders_apart(clock):
    sb = Sandbox(seed=1, offers=20, clock=clock)
    assert [call(sb, r, {}).status for r in ("product_offer/read", "vat/read", "category/read", "offer/save")] == [
        200, 200, 200, 429
    ]  # fmt: skip
    assert _statuses(sb, "order/read", 13) == [200] * 12 + [429]
    # Accounts have separate limits.
    assert _statuses(sb, "product_offer/read", 3, name="fbe") == [200, 200, 200]


def test_it_slides_the_one_second_window_rather_than_resetting_on_the_second(clock):
    sb = Sandbox(seed=1, offers=20, clock=clock)
    call(sb, "product_offer/read", {})
    clock.advance(0.6)
    call(sb, "product_offer/read", {})
    call(sb, "product_offer/read", {})
    clock.advance(0.5)  # the first request left the window, the other two are still in it
    assert _statuses(sb, "product_offer/read", 2) == [200, 429]


def test_it_never_lets_more_than_180_through_in_any_minute(clock):
    sb = Sandbox(seed=1, offers=20, clock=clock)
    accepted = []
    for _ in range(400):
        if call(sb, "product_offer/count", {}).status == 200:
            accepted.append(clock.now)
        clock.advance(0.25)  # four a second: one in four is throttled
    assert len(accepted) > 200
    assert max(sum(1 for t in accepted if start <= t < start + 60) for start in accepted) == 180


def test_it_slides_the_minute_window_when_it_binds(clock):
    sb = Sandbox(seed=1, offers=20, clock=clock, limits={"orders": (12, 720), "other": (3, 10)})
    statuses = []
    for _ in range(12):
        statuses.append(call(sb, "product_offer/count", {}).status)
        clock.advance(1.0)
    assert statuses == [200] * 10 + [429, 429]
    clock.advance(60 - 12 + 0.01)  # the first request (t=0) leaves the minute window
    assert [call(sb, "product_offer/count", {}).status for _ in range(2)] == [200, 429]


def test_it_allows_12_order_requests_a_second(clock):
    sb = Sandbox(seed=1, offers=20, clock=clock)
    statuses = []
    for _ in range(60):
        statuses.append(call(sb, "order/count", {}).status)
        clock.advance(1 / 14)
    accepted_in_first_second = statuses[:14].count(200)
    assert accepted_in_first_second == 12 and statuses[12:14] == [429, 429]


def test_it_does_not_count_throttled_requests_unless_asked():
    from .conftest import FakeClock

    outcomes = {}
    for count_throttled in (False, True):
        clock = FakeClock()
        sb = Sandbox(seed=1, offers=20, clock=clock, count_throttled=count_throttled)
        _statuses(sb, "product_offer/read", 3)
        clock.advance(0.9)
        assert _statuses(sb, "product_offer/read", 3) == [429, 429, 429]
        clock.advance(0.11)  # the three accepted requests left the window; the 429s did not
        outcomes[count_throttled] = call(sb, "product_offer/read", {}).status
    assert outcomes == {False: 200, True: 429}


def test_it_counts_invalid_requests_against_the_limit(clock):
    sb = Sandbox(seed=1, offers=20, clock=clock)
    assert call(sb, "product_offer/read", {"itemsPerPage": 500}).json()["isError"] is True
    assert call(sb, "no/such_route", {}).status == 404
    call(sb, "product_offer/count", {"status": "x"})
    assert call(sb, "product_offer/read", {}).status == 429


def test_it_sends_retry_after_when_configured(clock):
    computed = Sandbox(seed=1, offers=20, clock=clock, retry_after=True)
    fixed = Sandbox(seed=1, offers=20, clock=clock, retry_after=7)
    for sb in (computed, fixed):
        _statuses(sb, "product_offer/read", 3)
    clock.advance(0.2)
    assert call(computed, "product_offer/read", {}).headers["Retry-After"] == "1"
    assert call(fixed, "product_offer/read", {}).headers["Retry-After"] == "7"


def test_it_turns_the_limits_off(clock):
    sb = Sandbox(seed=1, offers=20, clock=clock, rate_limit=False)
    assert set(_statuses(sb, "product_offer/read", 50)) == {200}
    sb.set_rate_limit(True)
    assert _statuses(sb, "product_offer/read", 4)[-1] == 429


def test_it_gives_429s_to_a_burst_of_ten_quick_requests(sandbox):
    statuses = [
        requests.post(f"{BASE}/product_offer/read", auth=sandbox.credentials("main"), json={}, timeout=10).status_code
        for _ in range(10)
    ]
    assert statuses[:3] == [200, 200, 200]
    assert statuses.count(429) >= 6
    assert [e.status for e in sandbox.request_log] == statuses


def test_it_counts_a_request_in_every_window_that_holds_its_arrival_even_when_checked_late():
    from emag.sandbox.ratelimit import RateLimiter

    limiter = RateLimiter(clock=lambda: 0.0)
    # Checked in lock order, not arrival order: 1.0 and 1.1 first, then two that arrived earlier.
    assert limiter.check("main", "other", at=1.0) is None
    assert limiter.check("main", "other", at=1.1) is None
    assert limiter.check("main", "other", at=0.2) is None  # [0.2, 1.2) holds three
    assert limiter.check("main", "other", at=0.3) is not None  # [0.2, 1.2) would hold four
    # One that arrived well before the others fits in a second of its own.
    assert limiter.check("main", "other", at=-0.9) is None
    assert limiter.windows[("main", "other")] == [-0.9, 0.2, 1.0, 1.1]


def test_it_counts_a_request_at_the_arrival_time_it_is_given(clock):
    sb = Sandbox(seed=1, offers=20, clock=clock)
    clock.advance(5.0)
    assert [call(sb, "product_offer/count", {}).status for _ in range(3)] == [200, 200, 200]
    # A fourth that reached the sandbox 1.5 s ago, before the three, is in a second of its own.
    late = sb.handle("POST", "/api-3/product_offer/count", auth_headers(sb, "main"), "{}", arrived=clock() - 1.5)
    assert late.status == 200
    assert sb.request_log[-1].time == clock() - 1.5
