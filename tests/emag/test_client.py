"""The eMAG client against hand-made answers (`responses` callbacks): the cases the sandbox cannot make exactly."""

import base64
import json
import logging
from decimal import Decimal

import pytest
import requests
import responses

from emag.client import (
    EmagAuthError,
    EmagBadResponse,
    EmagClient,
    EmagConfigurationError,
    EmagError,
    EmagIPNotAllowed,
    EmagRateLimited,
    EmagRejected,
    EmagTimeout,
    EmagUnavailable,
)
from emag.models import ApiCall, SellerAccount

BASE = "https://emag.test/api-3"
PASSWORD = "s3cret-Pa55word-never-logged"
OK = {"isError": False, "messages": [], "errors": [], "results": []}


class FakeTime:
    """A clock that only moves when the client sleeps, and remembers every sleep."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def _no_rate_limiter(settings):
    # These tests are about the client's own behaviour; the limiter has tests of its own.
    settings.EMAG_RATE_LIMIT_ENABLED = False


@pytest.fixture
def seller(db):
    account = SellerAccount(
        name="shop", kind="main", platform=SellerAccount.Platform.CUSTOM, base_url=BASE, username="shop@example.com"
    )
    account.set_password(PASSWORD)
    account.save()
    return account


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def client(seller, fake_time):
    return EmagClient(seller, sleep=fake_time.sleep, clock=fake_time.clock)


def answer(status=200, body=None, headers=None):
    """A `responses` callback answer; a dict body is sent as JSON."""
    if isinstance(body, dict | list):
        body = json.dumps(body)
    return (status, headers or {"Content-Type": "application/json"}, body if body is not None else "")


def script(mock, method, route, *answers):
    """Answer the calls to one route with the given answers in turn (the last one repeats); return the requests."""
    seen = []

    def callback(request):
        seen.append(request)
        item = answers[min(len(seen), len(answers)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    mock.add_callback(method, f"{BASE}/{route}", callback=callback)
    return seen


# --- Requests as eMAG wants them -------------------------------------------------------------------------------


def test_it_reads_a_page_with_a_json_post_and_basic_auth(client, mocked_responses):
    record = {"id": "10042", "sale_price": 84.0336, "part_number": "LMP-042"}
    seen = script(mocked_responses, responses.POST, "product_offer/read", answer(body={**OK, "results": [record]}))

    records = client.read_offers(page=2, per_page=50, status=1)

    assert records == [{"id": "10042", "sale_price": Decimal("84.0336"), "part_number": "LMP-042"}]
    assert isinstance(records[0]["sale_price"], Decimal)
    request = seen[0]
    assert json.loads(request.body) == {"status": 1, "currentPage": 2, "itemsPerPage": 50}
    assert request.headers["Content-Type"] == "application/json"
    expected = base64.b64encode(f"shop@example.com:{PASSWORD}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"


def test_it_reads_every_number_of_a_page_exactly_whichever_json_reader_takes_it(client, mocked_responses):
    # Strings and small integers take orjson's path; a float, an integer beyond 64 bits (which
    # orjson would turn into a float) and NaN (which orjson refuses) take the standard library's.
    plain = {"id": 7, "sale_price": "84.0336", "stock": [{"warehouse_id": 1, "value": 3}], "name": "Lampă"}
    deep_float = {"id": 8, "offer_details": {"extra": [{"weight": 1.25}]}}
    huge = {"id": 2**70 + 1}
    for record, expected in [
        (plain, plain),
        (deep_float, {"id": 8, "offer_details": {"extra": [{"weight": Decimal("1.25")}]}}),
        (huge, {"id": 2**70 + 1}),
    ]:
        mocked_responses.reset()
        script(mocked_responses, responses.POST, "product_offer/read", answer(body={**OK, "results": [record]}))
        (read,) = client.read_offers(page=1)
        assert read == expected
        if record is deep_float:
            assert isinstance(read["offer_details"]["extra"][0]["weight"], Decimal)  # 1.25 == Decimal("1.25")

    mocked_responses.reset()
    body = '{"isError": false, "messages": [], "errors": [], "results": [{"id": 9, "sale_price": NaN}]}'
    script(mocked_responses, responses.POST, "product_offer/read", answer(body=body))
    (record,) = client.read_offers(page=1)
    assert record["sale_price"] != record["sale_price"]  # NaN, as the standard library reads it


def test_it_refuses_a_page_size_emag_would_not_accept(client):
    with pytest.raises(ValueError):
        client.read_offers(page=1, per_page=101)
    with pytest.raises(ValueError):
        client.read_offers(page=0)


def test_it_turns_the_string_counts_into_integers(client, mocked_responses):
    results = {"noOfItems": "238", "noOfPages": "3", "itemsPerPage": "100"}
    seen = script(mocked_responses, responses.POST, "product_offer/count", answer(body={**OK, "results": results}))

    count = client.count_offers(status=1)

    assert (count.items, count.pages, count.per_page) == (238, 3, 100)
    assert json.loads(seen[0].body) == {"status": 1}


def test_it_calls_a_count_with_a_wrong_shape_a_bad_response(client, mocked_responses):
    script(mocked_responses, responses.POST, "order/count", answer(body={**OK, "results": {"total": 3}}))
    with pytest.raises(EmagBadResponse):
        client.count_orders()


def test_it_saves_in_batches_of_fifty(client, mocked_responses):
    seen = script(mocked_responses, responses.POST, "offer/save", answer(body=OK))
    items = [{"id": n, "sale_price": Decimal("10.5000")} for n in range(1, 121)]

    result = client.save_light_offers(items)

    assert [len(json.loads(r.body)["data"]) for r in seen] == [50, 50, 20]
    assert json.loads(seen[0].body)["data"][0] == {"id": 1, "sale_price": 10.5}
    assert (result.saved, result.batches, result.warnings) == (120, 3, [])


def test_it_reports_documentation_only_complaints_on_a_product_save_as_warnings(client, mocked_responses):
    refusal = {**OK, "isError": True, "messages": ["Documentation: main image is missing for product id 12"]}
    script(mocked_responses, responses.POST, "product_offer/save", answer(body=refusal))

    result = client.save_offers([{"id": 12, "status": 1}])

    assert result.saved == 1
    assert result.warnings == ["Documentation: main image is missing for product id 12"]


def test_it_raises_a_business_refusal_of_a_save_and_says_what_was_saved_before(client, mocked_responses):
    refusal = {**OK, "isError": True, "messages": ["You already hold a Product associated with this PN:ABC-123."]}
    seen = script(mocked_responses, responses.POST, "product_offer/save", answer(body=OK), answer(body=refusal))

    with pytest.raises(EmagRejected) as caught:
        client.save_offers([{"id": n} for n in range(1, 80)])

    assert caught.value.messages == ["You already hold a Product associated with this PN:ABC-123."]
    assert caught.value.saved_before == 50
    assert len(seen) == 2  # a business refusal is not retried


def test_it_patches_offer_stock_and_accepts_the_empty_204(client, mocked_responses):
    seen = script(mocked_responses, responses.PATCH, "offer_stock/10042", answer(204))

    assert client.update_offer_stock(10042, 21) is None
    assert json.loads(seen[0].body) == {"stock": 21}
    assert ApiCall.objects.get().route == "offer_stock"


def test_it_raises_a_rejection_for_stock_of_an_unknown_offer(client, mocked_responses):
    script(mocked_responses, responses.PATCH, "offer_stock/99", answer(404, {"message": "This offer does not exist"}))

    with pytest.raises(EmagRejected) as caught:
        client.update_offer_stock(99, 1)

    assert caught.value.messages == ["This offer does not exist"]
    assert caught.value.status_code == 404


def test_it_never_sends_stock_for_an_fbe_account(seller, fake_time):
    seller.kind = "fbe"
    fbe = EmagClient(seller, sleep=fake_time.sleep, clock=fake_time.clock)
    with pytest.raises(ValueError):
        fbe.update_offer_stock(1, 5)
    with pytest.raises(ValueError):
        fbe.save_light_offers([{"id": 1, "stock": [{"warehouse_id": 1, "value": 2}]}])
    assert ApiCall.objects.count() == 0


def test_it_acknowledges_an_order_in_the_orders_bucket(client, mocked_responses):
    seen = script(mocked_responses, responses.POST, "order/acknowledge/3115229985", answer(body=OK))

    client.acknowledge_order(3115229985)

    assert len(seen) == 1
    call = ApiCall.objects.get()
    assert (call.route, call.bucket, call.outcome, call.status_code) == ("order/acknowledge", "orders", "ok", 200)


# --- Each error kind -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_it_raises_an_auth_error_once_and_flags_the_account(client, seller, mocked_responses, status, fake_time):
    body = {"isError": True, "messages": ["You are not allowed to use this API."], "results": []}
    seen = script(mocked_responses, responses.POST, "vat/read", answer(status, body))

    with pytest.raises(EmagAuthError) as caught:
        client.read_vat_rates()

    assert caught.value.permanent is True
    assert caught.value.status_code == status
    assert len(seen) == 1 and fake_time.sleeps == []
    seller.refresh_from_db()
    assert seller.auth_failed_at is not None
    assert ApiCall.objects.get().outcome == "auth_error"


@pytest.mark.parametrize("status", [200, 403])
def test_it_raises_ip_not_allowed_without_retrying(client, mocked_responses, status, seller):
    body = {"isError": True, "messages": ["ERROR: Invalid vendor ip [203.0.113.7]"], "results": []}
    seen = script(mocked_responses, responses.POST, "vat/read", answer(status, body))

    with pytest.raises(EmagIPNotAllowed) as caught:
        client.read_vat_rates()

    assert caught.value.permanent is True
    assert "203.0.113.7" in str(caught.value)
    assert len(seen) == 1
    seller.refresh_from_db()
    assert seller.auth_failed_at is None


def test_it_raises_a_rejection_with_emag_messages_without_retrying(client, mocked_responses):
    body = {"isError": True, "messages": ["Offer 10099 not found"], "errors": [], "results": []}
    seen = script(mocked_responses, responses.POST, "offer/save", answer(body=body))

    with pytest.raises(EmagRejected) as caught:
        client.save_light_offers([{"id": 10099, "sale_price": 1}])

    assert caught.value.messages == ["Offer 10099 not found"]
    assert caught.value.permanent is True
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (answer(429, {"message": "API rate limit exceeded"}), EmagRateLimited),
        (answer(500, "<html>Internal Server Error</html>", {"Content-Type": "text/html"}), EmagUnavailable),
        (answer(502, ""), EmagUnavailable),
        (answer(504, ""), EmagUnavailable),
        (requests.exceptions.ConnectTimeout("connect timed out"), EmagTimeout),
        (requests.exceptions.ReadTimeout("read timed out"), EmagTimeout),
        (requests.exceptions.ConnectionError("connection refused"), EmagUnavailable),
        (answer(200, "<html>maintenance</html>", {"Content-Type": "text/html"}), EmagBadResponse),
        (answer(200, '{"isError": false, "results": [{"id": 1'), EmagBadResponse),
        (answer(200, {"results": []}), EmagBadResponse),
        (answer(200, {"isError": "false", "results": []}), EmagBadResponse),
        (answer(200, [1, 2]), EmagBadResponse),
        (answer(200, ""), EmagBadResponse),
    ],
    ids=[
        "429",
        "500",
        "502",
        "504",
        "connect-timeout",
        "read-timeout",
        "connection-error",
        "not-json",
        "truncated-json",
        "no-isError",
        "isError-string",
        "not-an-object",
        "empty",
    ],
)
def test_it_retries_transient_failures_then_raises_the_named_error(client, mocked_responses, reply, error, settings):
    seen = script(mocked_responses, responses.POST, "vat/read", reply)

    with pytest.raises(error) as caught:
        client.read_vat_rates()

    assert caught.value.permanent is False
    assert len(seen) == settings.EMAG_MAX_TRIES
    calls = list(ApiCall.objects.order_by("attempt"))
    assert [c.attempt for c in calls] == list(range(1, settings.EMAG_MAX_TRIES + 1))
    assert {c.outcome for c in calls} == {error.outcome}
    assert client.stats.requests == settings.EMAG_MAX_TRIES
    assert client.stats.retries == settings.EMAG_MAX_TRIES - 1


@pytest.mark.parametrize(
    "message",
    ["An error occurred while processing your request. Please try again later.", "Service temporarily unavailable."],
)
def test_it_retries_an_iserror_answer_that_reports_emag_trouble(client, mocked_responses, message):
    trouble = answer(body={**OK, "isError": True, "messages": [message]})
    seen = script(mocked_responses, responses.POST, "product_offer/read", trouble, answer(body={**OK, "results": []}))

    assert client.read_offers() == []
    assert len(seen) == 2
    assert list(ApiCall.objects.order_by("attempt").values_list("outcome", flat=True)) == ["unavailable", "ok"]


def test_it_treats_a_body_cut_short_as_transient_and_succeeds_on_the_next_try(client, mocked_responses):
    cut = (200, {"Content-Type": "application/json", "Content-Length": "500"}, '{"isError": false, "res')
    good = answer(body={**OK, "results": [{"vat_id": 1, "vat_rate": 0.21}]})
    mocked_responses.add(
        responses.POST, f"{BASE}/vat/read", body=cut[2], headers=cut[1], auto_calculate_content_length=False
    )
    mocked_responses.add(responses.POST, f"{BASE}/vat/read", json=json.loads(good[2]))

    assert client.read_vat_rates() == [{"vat_id": 1, "vat_rate": Decimal("0.21")}]
    outcomes = list(ApiCall.objects.order_by("attempt").values_list("outcome", flat=True))
    assert outcomes == ["bad_response", "ok"]


def test_it_does_not_follow_a_redirect(client, mocked_responses):
    seen = script(mocked_responses, responses.POST, "vat/read", answer(302, "", {"Location": "https://evil.test/x"}))
    mocked_responses.add(responses.GET, "https://evil.test/x", body="should never be asked")

    with pytest.raises(EmagBadResponse) as caught:
        client.read_vat_rates()

    assert caught.value.permanent is True
    assert caught.value.status_code == 302
    assert "evil.test" in str(caught.value)
    assert len(mocked_responses.calls) == len(seen) == 1


def test_it_stops_reading_an_oversized_answer(client, mocked_responses, settings):
    settings.EMAG_MAX_RESPONSE_BYTES = 1000
    big = json.dumps({**OK, "results": [{"name": "x" * 100}] * 50})
    seen = script(mocked_responses, responses.POST, "product_offer/read", answer(body=big))
    small = EmagClient(client.account, sleep=client.sleep, clock=client.clock)

    with pytest.raises(EmagBadResponse) as caught:
        small.read_offers()

    assert "1000-byte limit" in str(caught.value)
    assert caught.value.permanent is True
    assert len(seen) == 1


def test_it_stops_reading_an_oversized_answer_that_does_not_declare_its_length(client, mocked_responses, settings):
    settings.EMAG_MAX_RESPONSE_BYTES = 1000
    mocked_responses.add(
        responses.POST,
        f"{BASE}/product_offer/read",
        body=json.dumps({**OK, "results": [{"name": "x" * 100}] * 50}),
        auto_calculate_content_length=False,
    )
    small = EmagClient(client.account, sleep=client.sleep, clock=client.clock)

    with pytest.raises(EmagBadResponse, match="exceeds"):
        small.read_offers()


# --- Retry policy, with a fake clock ---------------------------------------------------------------------------


def test_it_backs_off_exponentially_with_bounded_jitter(client, mocked_responses, fake_time, settings):
    settings.EMAG_MAX_TRIES = 5
    client = EmagClient(client.account, sleep=fake_time.sleep, clock=fake_time.clock)
    script(mocked_responses, responses.POST, "vat/read", answer(503, ""))

    with pytest.raises(EmagUnavailable):
        client.read_vat_rates()

    assert len(fake_time.sleeps) == 4  # five tries, four waits between them
    for wait, base in zip(fake_time.sleeps, [1, 2, 4, 8], strict=True):
        assert base <= wait <= base * 1.5
    assert client.stats.backoff_seconds == pytest.approx(sum(fake_time.sleeps))


def test_it_succeeds_after_transient_failures_and_counts_the_retries(client, mocked_responses, fake_time):
    good = answer(body={**OK, "results": [{"vat_id": 1}]})
    script(mocked_responses, responses.POST, "vat/read", answer(502, ""), answer(500, ""), good)

    assert client.read_vat_rates() == [{"vat_id": 1}]
    assert len(fake_time.sleeps) == 2
    assert 1 <= fake_time.sleeps[0] <= 1.5 and 2 <= fake_time.sleeps[1] <= 3
    assert (client.stats.requests, client.stats.retries) == (3, 2)


def test_it_caps_the_backoff(seller, mocked_responses, fake_time, settings):
    settings.EMAG_MAX_TRIES = 9
    client = EmagClient(seller, sleep=fake_time.sleep, clock=fake_time.clock)
    script(mocked_responses, responses.POST, "vat/read", answer(500, ""))

    with pytest.raises(EmagUnavailable):
        client.read_vat_rates()

    assert len(fake_time.sleeps) == 8
    assert all(wait <= 30 * 1.5 for wait in fake_time.sleeps)
    assert fake_time.sleeps[-1] >= 30


def test_it_honours_retry_after_in_seconds(client, mocked_responses, fake_time):
    throttled = answer(429, {"message": "API rate limit exceeded"}, {"Retry-After": "7"})
    script(mocked_responses, responses.POST, "vat/read", throttled, answer(body=OK))

    assert client.read_vat_rates() == []
    assert len(fake_time.sleeps) == 1
    assert 7 <= fake_time.sleeps[0] <= 7.25
    assert client.stats.throttled == 1
    calls = list(ApiCall.objects.order_by("attempt"))
    assert [(c.status_code, c.is_throttled) for c in calls] == [(429, True), (200, False)]


def test_it_honours_retry_after_as_an_http_date(client, mocked_responses, fake_time):
    from email.utils import format_datetime

    from django.utils import timezone

    when = format_datetime(timezone.now() + timezone.timedelta(seconds=20), usegmt=True)
    script(mocked_responses, responses.POST, "vat/read", answer(429, {}, {"Retry-After": when}), answer(body=OK))

    client.read_vat_rates()

    assert 18 <= fake_time.sleeps[0] <= 20.25


def test_it_gives_up_at_once_when_retry_after_is_too_long(client, mocked_responses, fake_time):
    seen = script(mocked_responses, responses.POST, "vat/read", answer(429, {}, {"Retry-After": "3600"}))

    with pytest.raises(EmagRateLimited) as caught:
        client.read_vat_rates()

    assert caught.value.retry_after == 3600
    assert len(seen) == 1 and fake_time.sleeps == []


def test_it_records_the_duration_of_each_request_with_the_injected_clock(seller, mocked_responses, fake_time):
    def slow(request):
        fake_time.now += 0.25
        return answer(body=OK)

    mocked_responses.add_callback(responses.POST, f"{BASE}/vat/read", callback=slow)
    EmagClient(seller, sleep=fake_time.sleep, clock=fake_time.clock).read_vat_rates()

    call = ApiCall.objects.get()
    assert call.duration_ms == pytest.approx(250)
    assert (call.account_id, call.route, call.bucket, call.attempt) == (seller.pk, "vat/read", "other", 1)


def test_it_passes_connect_and_read_timeouts_and_refuses_redirects(seller, settings):
    settings.EMAG_CONNECT_TIMEOUT = 2.5
    settings.EMAG_READ_TIMEOUT = 11.0
    captured = {}

    class RecordingSession(requests.Session):
        def request(self, method, url, **kwargs):
            captured.update(kwargs)
            return super().request(method, url, **kwargs)

    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/vat/read", json=OK)
        EmagClient(seller, session=RecordingSession()).read_vat_rates()

    assert captured["timeout"] == (2.5, 11.0)
    assert captured["allow_redirects"] is False
    assert captured["stream"] is True


# --- Secrets never leak ----------------------------------------------------------------------------------------


def test_it_never_puts_the_password_or_authorization_in_errors_or_logs(client, mocked_responses, caplog):
    caplog.set_level(logging.DEBUG)
    script(mocked_responses, responses.POST, "vat/read", answer(403, {"isError": True, "messages": ["No."]}))
    script(mocked_responses, responses.POST, "handling_time/read", requests.exceptions.ConnectionError("refused"))
    token = base64.b64encode(f"shop@example.com:{PASSWORD}".encode()).decode()

    errors = []
    for call in (client.read_vat_rates, client.read_handling_times):
        with pytest.raises(EmagError) as caught:
            call()
        errors.append(caught.value)

    for error in errors:
        for text in (str(error), repr(error), repr(error.__cause__), repr(error.__context__)):
            assert PASSWORD not in text and token not in text
    assert caplog.records, "the client logs each request"
    assert PASSWORD not in caplog.text and token not in caplog.text and "Authorization" not in caplog.text
    assert PASSWORD not in repr(client)


# --- Connection test -------------------------------------------------------------------------------------------


def test_it_reports_a_good_connection_and_clears_the_auth_flag(client, seller, mocked_responses):
    seller.auth_failed_at = seller.created_at
    seller.save()
    script(mocked_responses, responses.POST, "vat/read", answer(body={**OK, "results": [{"vat_id": 1}]}))

    result = client.test_connection()

    assert result.ok is True
    assert "credentials accepted" in result.message
    seller.refresh_from_db()
    assert (seller.last_test_ok, seller.auth_failed_at) == (True, None)
    assert seller.last_test_message == result.message


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (
            answer(403, {"isError": True, "messages": ["You are not allowed to use this API."]}),
            "auth_error",
            "password",
        ),
        (answer(200, {"isError": True, "messages": ["ERROR: Invalid vendor ip [1.2.3.4]"]}), "ip_not_allowed", "IP"),
        (requests.exceptions.ConnectionError("refused"), "unavailable", "Network"),
        (requests.exceptions.ConnectTimeout("timed out"), "timeout", "Network"),
    ],
)
def test_it_says_clearly_what_is_wrong_with_a_connection(client, seller, mocked_responses, reply, kind, words):
    seen = script(mocked_responses, responses.POST, "vat/read", reply)

    result = client.test_connection()

    assert (result.ok, result.kind) == (False, kind)
    assert words in result.message
    assert len(seen) == 1  # one cheap call, no retries
    seller.refresh_from_db()
    assert seller.last_test_ok is False
    assert seller.last_test_message == result.message


def test_it_reads_a_lowercase_retry_after(client, mocked_responses, fake_time):
    throttled = answer(429, {"message": "API rate limit exceeded"}, {"retry-after": "4"})
    script(mocked_responses, responses.POST, "vat/read", throttled, answer(body=OK))

    client.read_vat_rates()

    assert 4 <= fake_time.sleeps[0] <= 4.25


def test_it_asks_nothing_of_emag_when_the_password_cannot_be_decrypted(seller, mocked_responses, fake_time, settings):
    from cryptography.fernet import Fernet

    settings.MAGFLOW_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # not the key it was encrypted with
    seen = script(mocked_responses, responses.POST, "vat/read", answer(body=OK))

    with pytest.raises(EmagConfigurationError, match="cannot be decrypted") as caught:
        EmagClient(seller, sleep=fake_time.sleep, clock=fake_time.clock).read_vat_rates()

    assert caught.value.permanent is True
    assert seen == [] and ApiCall.objects.count() == 0
    seller.refresh_from_db()
    assert seller.auth_failed_at is None
