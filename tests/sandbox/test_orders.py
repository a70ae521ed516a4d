from datetime import UTC, datetime, timedelta

import pytest

from emag.sandbox import Sandbox

from .conftest import call

T0 = datetime(2025, 9, 29, 7, 14, 7, tzinfo=UTC)  # 10:14:07 in Bucharest


class FakeNow:
    def __init__(self):
        self.value = T0

    def __call__(self):
        return self.value


@pytest.fixture
def now():
    return FakeNow()


@pytest.fixture
def sb(clock, now):
    return Sandbox(seed=4, offers=40, rate_limit=False, clock=clock, now=now)


def test_it_creates_orders_that_read_and_count_return_like_emag(sb):
    offer = next(
        r for r in sb.catalogue("main") if r["general_stock"] >= 3 and r["estimated_stock"] == r["general_stock"]
    )
    order = sb.create_order("main", [(offer["id"], 2)])
    assert order["id"] > 2**31 and order["status"] == 1 and order["type"] == 3
    assert order["date"] == "2025-09-29 10:14:07"
    line = order["products"][0]
    assert line["product_id"] == offer["id"] and line["ext_part_number"] == offer["part_number"]
    assert line["quantity"] == 2 and line["sale_price"] == offer["sale_price"] and line["vat"] == "0.2100"
    assert sb.offer("main", offer["id"])["estimated_stock"] == offer["general_stock"] - 2
    read = call(sb, "order/read", {}).json()
    assert read["isError"] is False and read["results"] == [order]
    assert call(sb, "order/count", {}).json()["results"] == {"noOfItems": "1", "noOfPages": "1", "itemsPerPage": "100"}


def test_it_answers_fbe_orders_only_when_type_2_is_asked_for(sb):
    sb.create_order("fbe")
    assert call(sb, "order/read", {}, name="fbe").json()["results"] == []
    assert len(call(sb, "order/read", {"type": 2}, name="fbe").json()["results"]) == 1


def test_it_filters_orders_by_status_and_time_window(sb, now):
    first = sb.create_order("main")
    now.value = T0 + timedelta(days=3)
    second = sb.create_order("main", status=4)
    assert [o["id"] for o in call(sb, "order/read", {"status": [1]}).json()["results"]] == [first["id"]]
    assert [o["id"] for o in call(sb, "order/read", {"status": 4}).json()["results"]] == [second["id"]]
    window = {"createdAfter": "2025-09-30 00:00:00", "createdBefore": "2025-10-05 00:00:00"}
    assert [o["id"] for o in call(sb, "order/read", window).json()["results"]] == [second["id"]]
    too_wide = call(sb, "order/read", {"createdAfter": "2025-08-01 00:00:00", "createdBefore": "2025-10-05 00:00:00"})
    assert too_wide.json()["isError"] is True
    assert call(sb, "order/read", {"createdAfter": "yesterday"}).json()["isError"] is True


def test_it_pages_orders(sb):
    for _ in range(5):
        sb.create_order("main")
    pages = [call(sb, "order/read", {"currentPage": p, "itemsPerPage": 2}).json()["results"] for p in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [2, 2, 1, 0]
    assert call(sb, "order/count", {"itemsPerPage": 2}).json()["results"]["noOfPages"] == "3"


def test_it_acknowledges_an_order_moving_it_from_new_to_in_progress(sb, now):
    offer = next(
        r for r in sb.catalogue("main") if r["general_stock"] >= 2 and r["estimated_stock"] == r["general_stock"]
    )
    order = sb.create_order("main", [(offer["id"], 1)])
    now.value = T0 + timedelta(minutes=5)
    assert call(sb, f"order/acknowledge/{order['id']}", {}).json()["isError"] is False
    acknowledged = call(sb, "order/read", {"id": order["id"]}).json()["results"][0]
    assert acknowledged["status"] == 2 and acknowledged["modified"] == "2025-09-29 10:19:07"
    stock = sb.offer("main", offer["id"])
    assert stock["general_stock"] == offer["general_stock"] - 1 == stock["estimated_stock"]
    assert call(sb, f"order/acknowledge/{order['id']}", {}).json()["isError"] is False  # harmless twice
    assert call(sb, "order/acknowledge/1", {}).json()["messages"] == ["Order 1 not found"]


def test_it_saves_only_the_status_moves_emag_allows(sb):
    order = sb.create_order("main")
    refused = call(sb, "order/save", {"data": [{**order, "status": 3}]}).json()
    assert refused["isError"] is True  # 1 -> 3 needs an acknowledgement first
    call(sb, f"order/acknowledge/{order['id']}", {})
    assert call(sb, "order/save", {"data": [{**order, "status": 3}]}).json()["isError"] is False
    assert call(sb, "order/save", {"data": [{**order, "status": 1}]}).json()["isError"] is True
    assert sb.orders("main")[0]["status"] == 3


def test_it_takes_attachments_and_refuses_other_saves_on_fbe_orders(sb):
    order = sb.create_order("fbe")
    assert call(sb, "order/save", {"data": [{**order, "status": 0}]}, name="fbe").json()["isError"] is True
    attachment = {"order_id": order["id"], "name": "Factura 123", "url": "https://example.ro/f.pdf", "type": 1}
    assert call(sb, "order/attachments/save", {"data": [attachment]}, name="fbe").json()["isError"] is False
    assert sb.orders("fbe")[0]["attachments"] == [{"name": "Factura 123", "url": "https://example.ro/f.pdf", "type": 1}]
    bad = call(sb, "order/attachments/save", {"data": [{**attachment, "url": "ftp://x"}]}, name="fbe").json()
    assert bad["isError"] is True


def test_it_generates_orders_at_start_when_asked():
    sb = Sandbox(seed=1, offers=30, orders=4, rate_limit=False)
    assert call(sb, "order/count", {}).json()["results"]["noOfItems"] == "4"
    assert call(sb, "order/count", {"type": 2}, name="fbe").json()["results"]["noOfItems"] == "4"
