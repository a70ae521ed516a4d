import json
from decimal import Decimal

import pytest
import requests

from emag.sandbox import Sandbox

from .conftest import BASE, auth_headers, call


@pytest.fixture
def sb(clock):
    return Sandbox(seed=2, offers=60, rate_limit=False, clock=clock)


def _full_update(row, **changes):
    item = {
        "id": row["id"],
        "status": row["status"],
        "sale_price": row["sale_price"],
        "vat_id": row["vat_id"],
        "handling_time": row["handling_time"],
        "stock": row["stock"],
    }
    item.update(changes)
    return item


def _ok(response):
    assert response.status == 200, response.body
    assert response.json() == {"isError": False, "messages": [], "errors": [], "results": []}


def test_it_saves_light_offers_so_the_next_read_shows_them(sb):
    first, second = sb.catalogue("main")[:2]
    new_price = (Decimal(second["min_sale_price"]) + Decimal("0.1234")).quantize(Decimal("0.0001"))
    _ok(
        call(
            sb,
            "offer/save",
            {
                "data": [
                    {"id": first["id"], "stock": [{"warehouse_id": 1, "value": 7}]},
                    {"id": second["id"], "sale_price": float(new_price)},
                ]
            },
        )
    )
    read = call(sb, "product_offer/read", {"id": [first["id"], second["id"]]}).json()["results"]
    assert read[0]["stock"] == [{"warehouse_id": 1, "value": 7}] and read[0]["general_stock"] == 7
    assert read[1]["sale_price"] == str(new_price)


def test_it_answers_offer_not_found_for_an_unknown_id_and_still_saves_the_others(sb):
    row = sb.catalogue("main")[0]
    body = call(
        sb, "offer/save", {"data": [{"id": 10099, "sale_price": 41.1765}, {"id": row["id"], "status": 0}]}
    ).json()
    assert body == {"isError": True, "messages": ["Offer 10099 not found"], "errors": [], "results": []}
    assert sb.offer("main", row["id"])["status"] == 0


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"sale_price": "0"}, "greater than 0"),
        ({"sale_price": "-5"}, "greater than 0"),
        ({"sale_price": "12.12345"}, "more than 4 decimals"),
        ({"sale_price": "abc"}, "not a number"),
        ({"sale_price": "99999999"}, "must lie between"),
        ({"stock": [{"warehouse_id": 1, "value": 65536}]}, "between 0 and 65535"),
        ({"stock": [{"warehouse_id": 1, "value": -1}]}, "between 0 and 65535"),
        ({"stock": 5}, "must be a list"),
        ({"handling_time": [{"warehouse_id": 1, "value": 256}]}, "between 0 and 255"),
        ({"vat_id": 99}, "invalid vat_id"),
        ({"status": 7}, "status must be"),
        ({"min_sale_price": "500", "max_sale_price": "100"}, "above max_sale_price"),
    ],
)
def test_it_validates_offer_fields_like_emag_and_changes_nothing_on_refusal(sb, change, fragment):
    row = sb.catalogue("main")[3]
    body = call(sb, "offer/save", {"data": [{"id": row["id"], **change}]}).json()
    assert body["isError"] is True and fragment in body["messages"][0]
    assert sb.offer("main", row["id"]) == row


def test_it_refuses_more_than_50_items(sb):
    rows = sb.catalogue("main")[:51]
    body = call(sb, "offer/save", {"data": [{"id": r["id"], "status": 0} for r in rows]}).json()
    assert body["isError"] is True and "50" in body["messages"][0]
    assert all(sb.offer("main", r["id"])["status"] == r["status"] for r in rows)
    _ok(call(sb, "offer/save", {"data": [{"id": r["id"], "status": 0} for r in rows[:50]]}))


def test_it_refuses_stock_pushes_to_fbe_offers_but_takes_their_prices(sb):
    row = sb.catalogue("fbe")[0]
    body = call(sb, "offer/save", {"data": [{"id": row["id"], "stock": [{"warehouse_id": 2, "value": 3}]}]}, name="fbe")
    assert body.json()["isError"] is True and "Fulfilled by eMAG" in body.json()["messages"][0]
    _ok(call(sb, "offer/save", {"data": [{"id": row["id"], "sale_price": row["max_sale_price"]}]}, name="fbe"))
    assert sb.offer("fbe", row["id"])["sale_price"] == row["max_sale_price"]


def test_it_updates_through_product_offer_save_and_requires_the_update_fields(sb):
    row = sb.catalogue("main")[5]
    _ok(call(sb, "product_offer/save", {"data": [_full_update(row, stock=[{"warehouse_id": 1, "value": 42}])]}))
    assert sb.offer("main", row["id"])["general_stock"] == 42
    incomplete = {"id": row["id"], "sale_price": row["sale_price"]}
    body = call(sb, "product_offer/save", {"data": [incomplete]}).json()
    assert body["isError"] is True and "status" in body["messages"][0] and "stock" in body["messages"][0]


def test_it_creates_an_offer_on_an_existing_product_by_pnk_and_refuses_a_second_one(sb):
    fbe_only = next(
        r
        for r in sb.catalogue("fbe")
        if r["part_number_key"] not in {m["part_number_key"] for m in sb.catalogue("main")}
    )
    item = {
        "id": 77,
        "part_number": "NEW-001",
        "part_number_key": fbe_only["part_number_key"],
        "status": 1,
        "sale_price": "100.0000",
        "min_sale_price": "50",
        "max_sale_price": "150",
        "vat_id": 1,
        "handling_time": [{"warehouse_id": 1, "value": 1}],
        "stock": [{"warehouse_id": 1, "value": 3}],
    }
    _ok(call(sb, "product_offer/save", {"data": [item]}))
    created = sb.offer("main", 77)
    assert created["part_number_key"] == fbe_only["part_number_key"] and created["name"] == fbe_only["name"]
    assert created["sale_price"] == "100.0000" and created["general_stock"] == 3
    assert call(sb, "product_offer/count", {}).json()["results"]["noOfItems"] == "61"
    again = call(sb, "product_offer/save", {"data": [{**item, "id": 78, "part_number": "NEW-002"}]}).json()
    assert again["isError"] is True and "You already hold a Product associated with this PNK" in again["messages"][0]
    same_sku = call(
        sb,
        "product_offer/save",
        {"data": [{**item, "id": 79, "part_number_key": None, "name": "X", "brand": "Y", "category_id": 2044}]},
    ).json()
    assert same_sku["messages"] == ["You already hold a Product associated with this PN:NEW-001."]


def test_it_requires_min_and_max_prices_on_a_first_save(sb):
    body = call(
        sb,
        "product_offer/save",
        {
            "data": [
                {
                    "id": 90,
                    "part_number": "Q-1",
                    "status": 1,
                    "sale_price": 10,
                    "vat_id": 1,
                    "handling_time": [{"value": 1}],
                    "stock": [{"value": 1}],
                }
            ]
        },
    ).json()
    assert body["isError"] is True and "min_sale_price" in body["messages"][0]
    assert sb.offer("main", 90) is None


def test_it_saves_an_offer_whose_only_problem_is_documentation_but_answers_iserror(sb):
    row = sb.catalogue("main")[8]
    body = call(sb, "product_offer/save", {"data": [_full_update(row, status=0, ean=["4032254753475"])]}).json()
    assert body["isError"] is True
    assert body["messages"] == [f"4032254753475 is not a valid EAN. - Product id: {row['id']}"]
    saved = sb.offer("main", row["id"])
    assert saved["status"] == 0 and saved["ean"] == row["ean"]


def test_it_sets_stock_with_patch_offer_stock(sb):
    row = sb.catalogue("main")[1]
    response = call(sb, f"offer_stock/{row['id']}", {"stock": 21}, method="PATCH")
    assert response.status == 204 and response.body == b""
    assert sb.offer("main", row["id"])["stock"][0]["value"] == 21
    missing = call(sb, "offer_stock/5", {"stock": 21}, method="PATCH")
    assert missing.status == 404 and missing.json() == {"message": "This offer does not exist"}
    for bad in ({"stok": 1}, {"stock": "many"}, {"stock": 70000}):
        refused = call(sb, f"offer_stock/{row['id']}", bad, method="PATCH")
        assert refused.status == 400 and refused.json() == {"message": "Invalid content"}
    broken = sb.handle("PATCH", f"/api-3/offer_stock/{row['id']}", auth_headers(sb), "{oops")
    assert broken.status == 400
    assert call(sb, f"offer_stock/{row['id']}", {"stock": 1}, method="POST").status == 405


def test_it_accepts_form_encoded_saves(sb):
    row = sb.catalogue("main")[2]
    headers = auth_headers(sb, content_type="application/x-www-form-urlencoded")
    body = f"data[0][id]={row['id']}&data[0][stock][0][warehouse_id]=1&data[0][stock][0][value]=9&data[0][status]=0"
    assert sb.handle("POST", "/api-3/offer/save", headers, body).json()["isError"] is False
    saved = sb.offer("main", row["id"])
    assert saved["general_stock"] == 9 and saved["status"] == 0


def test_it_refuses_too_many_form_variables_like_php(sb):
    headers = auth_headers(sb, content_type="application/x-www-form-urlencoded")
    body = "&".join(f"data[{i}][id]={i}" for i in range(4001))
    answer = sb.handle("POST", "/api-3/offer/save", headers, body).json()
    assert answer["messages"] == ["Maximum input vars of 4000 exceeded"]


def test_it_saves_through_requests_and_responses(sandbox):
    row = sandbox.catalogue("main")[0]
    response = requests.post(
        f"{BASE}/offer/save",
        auth=sandbox.credentials("main"),
        json={"data": [{"id": row["id"], "stock": [{"warehouse_id": 1, "value": 3}]}]},
        timeout=10,
    )
    assert json.loads(response.content)["isError"] is False
    assert sandbox.offer("main", row["id"])["general_stock"] == 3
