"""The shared rate limiter, in one process: the arithmetic, both backends, the statistics."""

import os

import pytest
import responses

from emag import ratelimit
from emag.client import EmagClient
from emag.models import ApiCall, RateLimitBucket, SellerAccount

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
BASE = "https://emag.test/api-3"


class FakeTime:
    """One clock for the database backend's `now()` and the limiter's monotonic clock; sleeping moves it."""

    def __init__(self):
        self.now = 1_700_000_000.0
        self.sleeps = []

    def wall(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def shop(db):
    account = SellerAccount(name="shop", platform="custom", base_url=BASE, username="shop@example.com")
    account.set_password("pw")
    account.save()
    return account


@pytest.fixture
def neighbour(db):
    account = SellerAccount(name="neighbour", platform="custom", base_url=BASE, username="n@example.com")
    account.set_password("pw")
    account.save()
    return account


@pytest.fixture
def fake_time(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(ratelimit._database_backend, "now", fake.wall)
    monkeypatch.setattr(ratelimit, "_monotonic", fake.wall)
    monkeypatch.setattr(ratelimit, "_sleep", fake.sleep)
    return fake


@pytest.fixture(params=["database", "redis"])
def backend(request, settings, db):
    """Each test that takes this runs on the database backend, and on Redis when TEST_REDIS_URL is set."""
    if request.param == "redis":
        if not TEST_REDIS_URL:
            pytest.skip("TEST_REDIS_URL is not set")
        settings.REDIS_URL = TEST_REDIS_URL
        ratelimit.reset()
        yield "redis"
        ratelimit.reset()
    else:
        settings.REDIS_URL = ""
        yield "database"


# --- The arithmetic --------------------------------------------------------------------------------------------


def test_it_lets_three_requests_through_in_a_second_and_times_the_fourth(settings):
    settings.EMAG_RATE_LIMIT_MARGIN_SECONDS = 0.1
    limit = ratelimit.LIMITS["other"]

    assert ratelimit._wait_needed([10.0, 10.2], 10.5, limit) == 0
    # The oldest of the three must leave the 1.1 s window first.
    assert ratelimit._wait_needed([10.0, 10.2, 10.4], 10.5, limit) == pytest.approx(0.6)
    assert ratelimit._wait_needed([10.0, 10.2, 10.4], 11.2, limit) == 0


def test_it_holds_the_minute_limit_even_when_each_second_is_quiet(settings):
    settings.EMAG_RATE_LIMIT_MARGIN_SECONDS = 0.1
    limit = ratelimit.LIMITS["other"]
    sends = [i * (59.0 / 180) for i in range(180)]  # 180 sends in 59 s, about 3 a second

    wait = ratelimit._wait_needed(sends, 59.5, limit)

    assert wait == pytest.approx(sends[0] + 60.1 - 59.5)


def test_it_knows_the_bucket_of_each_route():
    assert ratelimit.bucket_for_route("order/read") == "orders"
    assert ratelimit.bucket_for_route("order/acknowledge") == "orders"
    assert ratelimit.bucket_for_route("product_offer/read") == "other"
    assert ratelimit.bucket_for_route("offer_stock") == "other"


def test_it_refuses_an_unknown_bucket(shop):
    with pytest.raises(ValueError):
        ratelimit.acquire(shop.pk, "everything")


# --- The database backend with a fake clock --------------------------------------------------------------------


def test_it_makes_the_fourth_request_of_a_second_wait_for_the_window(shop, fake_time, settings):
    settings.EMAG_RATE_LIMIT_MARGIN_SECONDS = 0.1

    waits = [ratelimit.acquire(shop.pk, "other") for _ in range(3)]
    fourth = ratelimit.acquire(shop.pk, "other")

    assert waits == [0, 0, 0]
    assert 1.1 <= fourth <= 1.1 + 2 * ratelimit.JITTER_SECONDS
    row = RateLimitBucket.objects.get(account=shop, bucket="other")
    assert len(row.recent) == 4
    assert row.recent[3] - row.recent[0] >= 1.1


def test_it_never_admits_more_than_the_limit_in_any_window(shop, fake_time, settings):
    settings.EMAG_RATE_LIMIT_MARGIN_SECONDS = 0.1
    for _ in range(40):
        ratelimit.acquire(shop.pk, "other")
        fake_time.now += 0.01  # the request itself

    sends = RateLimitBucket.objects.get(account=shop, bucket="other").recent
    assert len(sends) == 40
    for i in range(len(sends) - 3):
        assert sends[i + 3] - sends[i] >= 1.1


def test_it_lets_orders_go_faster_than_everything_else(shop, fake_time):
    for _ in range(12):
        assert ratelimit.acquire(shop.pk, "orders") == 0
    assert ratelimit.acquire(shop.pk, "other") == 0  # a separate bucket
    assert ratelimit.acquire(shop.pk, "orders") > 0


def test_it_keeps_each_account_to_its_own_budget(shop, neighbour, fake_time):
    for _ in range(3):
        ratelimit.acquire(shop.pk, "other")

    assert ratelimit.acquire(neighbour.pk, "other") == 0
    assert fake_time.sleeps == []


def test_it_holds_the_bucket_full_after_a_429(shop, fake_time):
    ratelimit.acquire(shop.pk, "other")
    ratelimit.record_throttled(shop.pk, "other")

    assert ratelimit.stats(shop.pk)["buckets"]["other"]["available_now"] == 0
    assert ratelimit.acquire(shop.pk, "other") >= 1.0


def test_it_skips_everything_when_disabled(shop, settings):
    settings.EMAG_RATE_LIMIT_ENABLED = False

    assert [ratelimit.acquire(shop.pk, "other") for _ in range(10)] == [0] * 10
    ratelimit.record_throttled(shop.pk, "other")
    assert not RateLimitBucket.objects.exists()
    assert ratelimit.stats(shop.pk)["backend"] == "disabled"


# --- Both backends in real time --------------------------------------------------------------------------------


def test_it_counts_requests_waits_and_usage(backend, shop, neighbour):
    waited = [ratelimit.acquire(shop.pk, "other") for _ in range(4)]
    ratelimit.acquire(neighbour.pk, "other")
    ratelimit.record_throttled(shop.pk, "orders")

    figures = ratelimit.stats(shop.pk)

    assert figures["backend"] == backend
    other = figures["buckets"]["other"]
    assert waited[:3] == [0, 0, 0] and waited[3] >= 1.0
    assert other["requests"] == 4
    assert other["waits"] == 1
    assert other["wait_seconds"] == pytest.approx(waited[3], abs=0.01)
    assert 1 <= other["used_last_second"] <= 3
    assert other["used_last_minute"] == 4
    assert other["available_now"] == 3 - other["used_last_second"]
    assert (other["limit_per_second"], other["limit_per_minute"]) == (3, 180)
    assert figures["buckets"]["orders"]["throttled"] == 1
    assert ratelimit.stats(neighbour.pk)["buckets"]["other"]["requests"] == 1


def test_it_forgets_one_account_or_all_on_reset(backend, shop, neighbour):
    for _ in range(3):
        ratelimit.acquire(shop.pk, "other")
    ratelimit.acquire(neighbour.pk, "other")

    ratelimit.reset(shop.pk)

    assert ratelimit.stats(shop.pk)["buckets"]["other"]["requests"] == 0
    assert ratelimit.acquire(shop.pk, "other") == 0  # the window is empty again
    assert ratelimit.stats(neighbour.pk)["buckets"]["other"]["requests"] == 1
    ratelimit.reset()
    assert ratelimit.stats(neighbour.pk)["buckets"]["other"]["requests"] == 0


# --- Through the client ----------------------------------------------------------------------------------------


def test_it_makes_the_client_wait_and_counts_the_wait(shop, fake_time, mocked_responses):
    mocked_responses.add(responses.POST, f"{BASE}/vat/read", json={"isError": False, "messages": [], "results": []})
    client = EmagClient(shop, sleep=fake_time.sleep, clock=fake_time.wall)

    for _ in range(4):
        client.read_vat_rates()

    assert client.stats.requests == 4
    assert client.stats.wait_seconds >= 1.0
    waits = list(ApiCall.objects.order_by("id").values_list("wait_ms", flat=True))
    assert waits[:3] == [0, 0, 0] and waits[3] >= 1000


def test_it_tells_the_limiter_about_a_429(shop, fake_time, mocked_responses, settings):
    settings.EMAG_MAX_TRIES = 2
    mocked_responses.add(responses.POST, f"{BASE}/vat/read", status=429, json={"message": "API rate limit exceeded"})
    mocked_responses.add(responses.POST, f"{BASE}/vat/read", json={"isError": False, "messages": [], "results": []})
    client = EmagClient(shop, sleep=fake_time.sleep, clock=fake_time.wall)

    client.read_vat_rates()

    assert ratelimit.stats(shop.pk)["buckets"]["other"]["throttled"] == 1
    assert client.stats.throttled == 1


def test_it_fails_closed_and_sends_nothing_when_redis_is_down(shop, settings, mocked_responses, fake_time):
    import socket

    from emag.client import EmagUnavailable

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens there once closed
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    mocked_responses.add(responses.POST, f"{BASE}/vat/read", json={"isError": False, "messages": [], "results": []})
    client = EmagClient(shop, sleep=fake_time.sleep, clock=fake_time.wall, max_tries=2)

    with pytest.raises(ratelimit.RateLimiterUnavailable):
        ratelimit.acquire(shop.pk, "other")
    with pytest.raises(EmagUnavailable, match="rate limiter is unavailable") as caught:
        client.read_vat_rates()

    assert caught.value.permanent is False
    assert len(mocked_responses.calls) == 0
    assert len(fake_time.sleeps) == 1  # retried once, with backoff
