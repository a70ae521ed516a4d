"""The client against the eMAG sandbox (through `responses`): every route, the truth, and each error kind."""

from decimal import Decimal

import pytest

from emag.client import (
    EmagAuthError,
    EmagBadResponse,
    EmagClient,
    EmagIPNotAllowed,
    EmagRateLimited,
    EmagRejected,
    EmagTimeout,
    EmagUnavailable,
)
from emag.models import ApiCall, SellerAccount
from tests.conftest import SANDBOX_BASE_URL

OTHER_BASE_URL = "https://other-sandbox.emag.test/api-3"

pytestmark = pytest.mark.django_db


class FakeTime:
    def __init__(self):
        self.now = 1_800_000_000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def _no_shared_limiter(settings):
    # The sandbox enforces eMAG's limits itself; these tests are about the client's answers to it.
    settings.EMAG_RATE_LIMIT_ENABLED = False


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def client(account, sandbox, fake_time):
    # The shared sandbox keeps eMAG's limits on the real clock while these tests sleep on a fake one.
    sandbox.set_rate_limit(False)
    return EmagClient(account, sleep=fake_time.sleep, clock=fake_time.clock)


def own_sandbox(mocked_responses, fake_time, **options):
    """A sandbox with options of its own, answering at OTHER_BASE_URL, and an account on it."""
    from emag.sandbox import Sandbox

    sandbox = Sandbox(seed=3, offers=20, clock=fake_time.clock, **options)
    sandbox.install(mocked_responses, OTHER_BASE_URL)
    username, password = sandbox.credentials("main")
    account = SellerAccount(name="own", platform="custom", base_url=OTHER_BASE_URL, username=username)
    account.set_password(password)
    account.save()
    return sandbox, account


def test_it_reads_every_offer_page_by_page_as_the_sandbox_holds_them(client, sandbox):
    count = client.count_offers()
    records = []
    for page in range(1, count.pages + 2):
        batch = client.read_offers(page=page, per_page=100)
        records.extend(batch)
        if len(batch) < 100:
            break

    truth = sandbox.catalogue("main")
    assert count.items == len(truth) == 250
    assert count.pages == 3
    assert [r["id"] for r in records] == [r["id"] for r in truth]
    assert all(isinstance(r["sale_price"], Decimal | str) for r in records)
    assert client.stats.requests == ApiCall.objects.count() == 1 + 3


def test_it_filters_reads_and_counts_alike(client):
    active = client.count_offers(status=1)
    records = client.read_offers(page=1, per_page=100, status=1)

    assert all(int(r["status"]) == 1 for r in records)
    assert len(records) == min(100, active.items)


def test_it_pushes_prices_and_stock_that_a_later_read_shows(client, sandbox):
    offer = sandbox.catalogue("main")[0]
    low, high = Decimal(offer["min_sale_price"]), Decimal(offer["max_sale_price"])
    new_price = ((low + high) / 2).quantize(Decimal("0.0001"))

    result = client.save_light_offers([{"id": offer["id"], "sale_price": new_price}])
    client.update_offer_stock(offer["id"], 17)

    assert result.saved == 1
    now = sandbox.offer("main", offer["id"])
    assert Decimal(now["sale_price"]) == new_price
    assert now["stock"][0]["value"] == 17


def test_it_raises_the_sandbox_refusal_of_an_unknown_offer(client):
    with pytest.raises(EmagRejected) as caught:
        client.save_light_offers([{"id": 16_000_000, "sale_price": 10}])
    assert any("16000000" in message for message in caught.value.messages)
    with pytest.raises(EmagRejected):
        client.update_offer_stock(16_000_000, 1)


def test_it_reads_the_reference_data(client):
    vat = client.read_vat_rates()
    assert {"vat_id", "vat_rate"} <= set(vat[0])
    assert client.read_handling_times()
    assert client.read_categories()


def test_it_reads_counts_and_acknowledges_orders(mocked_responses, fake_time):
    sandbox, account = own_sandbox(mocked_responses, fake_time, orders=3)
    client = EmagClient(account, sleep=fake_time.sleep, clock=fake_time.clock)

    assert client.count_orders().items == 3
    orders = client.read_orders(status=1)
    client.acknowledge_order(orders[0]["id"])

    assert orders[0]["id"] > 2**31
    assert {o["id"]: o["status"] for o in sandbox.orders("main")}[orders[0]["id"]] == 2
    assert set(ApiCall.objects.values_list("bucket", flat=True)) == {"orders"}


def test_it_refuses_a_wrong_password_once_and_flags_the_account(client, account, fake_time):
    account.set_password("not-the-password")
    account.save()

    with pytest.raises(EmagAuthError) as caught:
        EmagClient(account, sleep=fake_time.sleep, clock=fake_time.clock).read_offers()

    assert caught.value.status_code == 403
    assert caught.value.messages == ["You are not allowed to use this API."]
    account.refresh_from_db()
    assert account.auth_failed_at is not None
    assert ApiCall.objects.count() == 1


@pytest.mark.parametrize("status", [200, 403])
def test_it_names_an_ip_outside_the_whitelist(mocked_responses, fake_time, status):
    _, account = own_sandbox(mocked_responses, fake_time, allowed_ips=["10.0.0.0/8"], ip_denied_status=status)

    with pytest.raises(EmagIPNotAllowed) as caught:
        EmagClient(account, sleep=fake_time.sleep, clock=fake_time.clock).read_vat_rates()

    assert "Invalid vendor ip" in str(caught.value)
    assert ApiCall.objects.count() == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("500", EmagUnavailable),
        ("502", EmagUnavailable),
        ("504", EmagUnavailable),
        ("hang", EmagTimeout),
        ("badjson", EmagBadResponse),
        ("truncated", EmagBadResponse),
        ("iserror", EmagUnavailable),
        ("429", EmagRateLimited),
    ],
)
def test_it_retries_each_transient_fault_of_the_sandbox_then_names_it(mocked_responses, fake_time, fault, error):
    sandbox, account = own_sandbox(mocked_responses, fake_time, faults=f"{fault}:1")
    client = EmagClient(account, sleep=fake_time.sleep, clock=fake_time.clock, max_tries=3)

    with pytest.raises(error):
        client.read_offers()

    assert len(sandbox.request_log) == 3
    assert len(fake_time.sleeps) == 2


def test_it_recovers_from_occasional_faults(mocked_responses, fake_time):
    sandbox, account = own_sandbox(mocked_responses, fake_time, faults="500:0.3,badjson:0.2")
    client = EmagClient(account, sleep=fake_time.sleep, clock=fake_time.clock, max_tries=8)

    records = client.read_offers(per_page=100)

    assert [r["id"] for r in records] == [r["id"] for r in sandbox.catalogue("main")]


def test_it_honours_the_sandbox_retry_after_when_it_hammers_without_the_limiter(mocked_responses, fake_time):
    sandbox, account = own_sandbox(mocked_responses, fake_time, retry_after=True)
    client = EmagClient(account, sleep=fake_time.sleep, clock=fake_time.clock)

    for _ in range(5):
        client.read_vat_rates()

    statuses = [entry.status for entry in sandbox.request_log]
    assert statuses.count(429) >= 1
    assert client.stats.throttled == statuses.count(429)
    # Each 429 said "Retry-After: 1" and the client waited at least that long.
    assert fake_time.sleeps and all(wait >= 1 for wait in fake_time.sleeps)
    assert statuses.count(200) == 5


def test_it_says_the_credentials_are_fine(client, account):
    result = client.test_connection()

    assert result.ok, result.message
    account.refresh_from_db()
    assert account.last_test_ok is True
    assert SANDBOX_BASE_URL.split("/")[2] in result.message


@pytest.mark.django_db(transaction=True)
def test_a_call_logged_outside_a_transaction_commits_at_once_and_leaves_the_session_as_it_was(account, sandbox):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the log row's asynchronous commit is a PostgreSQL setting")
    settings_before = _synchronous_commit()
    with EmagClient(account, sleep=lambda seconds: None) as client:
        client.count_offers()

    assert not connection.in_atomic_block
    assert _synchronous_commit() == settings_before == "on"  # SET LOCAL ended with the row's transaction
    import psycopg
    from django.conf import settings as django_settings

    database = django_settings.DATABASES["default"]
    with psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        host=database["HOST"],
        port=database["PORT"] or 5432,
        user=database["USER"],
        password=database["PASSWORD"],
    ) as other:  # another session sees the committed row
        rows = other.execute("SELECT route, outcome FROM emag_apicall WHERE account_id = %s", [account.pk]).fetchall()
    assert rows == [("product_offer/count", "ok")]


def _synchronous_commit() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]
