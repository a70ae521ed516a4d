import json
from decimal import Decimal

import requests

from emag.sandbox import Sandbox
from emag.sandbox.catalogue import is_valid_ean
from emag.sandbox.vocabulary import SELLABLE_VALIDATION_STATUSES

from .conftest import BASE, auth_headers, call

APPENDIX_KEYS = {
    "id", "part_number_key", "part_number", "name", "brand", "category_id", "vendor_category_id", "description", "url",
    "sale_price", "recommended_price", "min_sale_price", "max_sale_price", "best_offer_sale_price",
    "best_offer_recommended_price", "currency", "vat_id", "status", "stock", "general_stock", "estimated_stock",
    "handling_time", "warranty", "ean", "images", "attachments", "characteristics", "family", "number_of_offers",
    "buy_button_rank", "ownership", "offer_details", "validation_status", "translation_validation_status",
    "offer_validation_status", "doc_errors", "genius_eligibility", "genius_eligibility_type", "genius_computed",
}  # fmt: skip


def test_it_answers_a_read_in_the_envelope_with_rows_shaped_like_the_reference(quiet_sandbox):
    response = call(quiet_sandbox, "product_offer/read", {"currentPage": 1, "itemsPerPage": 100})
    assert response.status == 200
    body = response.json()
    assert body["isError"] is False and body["messages"] == [] and body["errors"] == []
    rows = body["results"]
    assert len(rows) == 100
    for row in rows:
        assert set(row) == APPENDIX_KEYS
        assert isinstance(row["id"], int) and 1 <= row["id"] <= 16_777_215
        for key in ("sale_price", "min_sale_price", "max_sale_price", "best_offer_sale_price"):
            assert isinstance(row[key], str) and len(row[key].split(".")[1]) == 4
        assert Decimal(row["min_sale_price"]) <= Decimal(row["sale_price"]) <= Decimal(row["max_sale_price"])
        assert row["currency"] == "RON"
        assert row["stock"][0]["value"] == row["general_stock"] >= row["estimated_stock"] >= 0
        assert 1 <= len(row["part_number"]) <= 25
        assert all(is_valid_ean(e) and len(e) == 13 for e in row["ean"])
        assert row["validation_status"][0]["description"]
        assert row["offer_validation_status"]["value"] in (1, 2)
        assert set(row["offer_details"]) == {"id", "warranty_type", "supply_lead_time", "emag_club"}
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)


def test_it_writes_romanian_names_with_diacritics(quiet_sandbox):
    names = [o["name"] + o["brand"] for o in quiet_sandbox.catalogue("main")]
    assert any(ch in "".join(names) for ch in "ăâîșț")
    assert len(set(names)) > 200


def test_it_makes_most_offers_sellable_but_not_all(quiet_sandbox):
    rows = quiet_sandbox.catalogue("main")
    sellable = [
        r
        for r in rows
        if r["general_stock"] > 0
        and r["status"] == 1
        and r["offer_validation_status"]["value"] == 1
        and r["validation_status"][0]["value"] in SELLABLE_VALIDATION_STATUSES
    ]
    assert 0.5 * len(rows) < len(sellable) < 0.95 * len(rows)
    assert {r["status"] for r in rows} == {0, 1, 2}


def test_it_shares_part_of_the_skus_between_accounts_under_different_ids(quiet_sandbox):
    main = {r["part_number"]: r for r in quiet_sandbox.catalogue("main")}
    fbe = {r["part_number"]: r for r in quiet_sandbox.catalogue("fbe")}
    shared = set(main) & set(fbe)
    assert len(shared) == 150  # 60% of 250
    assert all(main[s]["id"] != fbe[s]["id"] for s in shared)
    assert all(main[s]["part_number_key"] == fbe[s]["part_number_key"] for s in shared)
    assert not {r["id"] for r in main.values()} & {r["id"] for r in fbe.values()}


def test_it_generates_the_same_catalogue_for_the_same_seed_and_another_for_another():
    assert Sandbox(seed=7, offers=50).catalogue("main") == Sandbox(seed=7, offers=50).catalogue("main")
    assert Sandbox(seed=7, offers=50).catalogue("main") != Sandbox(seed=8, offers=50).catalogue("main")


def test_it_pages_by_at_most_100_and_answers_an_empty_list_past_the_end(quiet_sandbox):
    ids = []
    for page in (1, 2, 3):
        ids += [r["id"] for r in call(quiet_sandbox, "product_offer/read", {"currentPage": page}).json()["results"]]
    assert len(ids) == len(set(ids)) == 250
    assert ids == [r["id"] for r in quiet_sandbox.catalogue("main")]
    past = call(quiet_sandbox, "product_offer/read", {"currentPage": 4, "itemsPerPage": 100}).json()
    assert past == {"isError": False, "messages": [], "errors": [], "results": []}
    too_big = call(quiet_sandbox, "product_offer/read", {"currentPage": 1, "itemsPerPage": 101}).json()
    assert too_big["isError"] is True and "100" in too_big["messages"][0]


def test_it_counts_with_strings_like_php(quiet_sandbox):
    body = call(quiet_sandbox, "product_offer/count", {}).json()
    assert body["results"] == {"noOfItems": "250", "noOfPages": "3", "itemsPerPage": "100"}
    active = sum(1 for r in quiet_sandbox.catalogue("main") if r["status"] == 1)
    body = call(quiet_sandbox, "product_offer/count", {"status": 1, "itemsPerPage": 50}).json()
    assert body["results"] == {"noOfItems": str(active), "noOfPages": str(-(-active // 50)), "itemsPerPage": "50"}


def test_it_filters_reads_and_counts_alike(quiet_sandbox):
    truth = quiet_sandbox.catalogue("main")
    sample = truth[17]
    cases = {
        "status": (0, lambda r: r["status"] == 0),
        "id": (sample["id"], lambda r: r["id"] == sample["id"]),
        "part_number": (sample["part_number"], lambda r: r["part_number"] == sample["part_number"]),
        "part_number_key": (sample["part_number_key"], lambda r: r["part_number_key"] == sample["part_number_key"]),
        "validation_status": (9, lambda r: r["validation_status"][0]["value"] == 9),
        "offer_validation_status": (2, lambda r: r["offer_validation_status"]["value"] == 2),
        "general_stock": (0, lambda r: r["general_stock"] == 0),
        "estimated_stock": (sample["estimated_stock"], lambda r: r["estimated_stock"] == sample["estimated_stock"]),
    }
    for name, (value, predicate) in cases.items():
        expected = [r["id"] for r in truth if predicate(r)]
        assert expected, name
        read = call(quiet_sandbox, "product_offer/read", {name: value, "itemsPerPage": 100}).json()["results"]
        assert [r["id"] for r in read] == expected[:100], name
        count = call(quiet_sandbox, "product_offer/count", {name: value}).json()["results"]
        assert count["noOfItems"] == str(len(expected)), name


def test_it_accepts_form_encoded_bodies_in_the_php_style(quiet_sandbox):
    headers = auth_headers(quiet_sandbox, content_type="application/x-www-form-urlencoded")
    response = quiet_sandbox.handle(
        "POST",
        "/api-3/product_offer/read",
        headers,
        "data%5BcurrentPage%5D=2&data%5BitemsPerPage%5D=10&data%5Bstatus%5D=1",
    )
    rows = response.json()["results"]
    expected = [r["id"] for r in quiet_sandbox.catalogue("main") if r["status"] == 1][10:20]
    assert [r["id"] for r in rows] == expected


def test_it_rejects_a_body_that_is_not_json_with_an_error_envelope(quiet_sandbox):
    response = quiet_sandbox.handle("POST", "/api-3/product_offer/read", auth_headers(quiet_sandbox), "{not json")
    assert response.status == 200 and response.json()["isError"] is True


def test_it_refuses_missing_credentials_with_401_and_wrong_ones_with_eMAGs_403(quiet_sandbox):
    missing = quiet_sandbox.handle("POST", "/api-3/product_offer/read", {}, "{}")
    assert missing.status == 401 and missing.json()["isError"] is True
    username, _ = quiet_sandbox.credentials("main")
    wrong = quiet_sandbox.handle(
        "POST", "/api-3/product_offer/read", {"Authorization": "Basic " + _b64(f"{username}:nope")}, "{}"
    )
    assert wrong.status == 403
    assert wrong.json() == {"isError": True, "messages": ["You are not allowed to use this API."], "results": []}
    garbage = quiet_sandbox.handle("POST", "/api-3/product_offer/read", {"Authorization": "Basic !!!"}, "{}")
    assert garbage.status == 403


def test_it_answers_an_unknown_route_with_a_404_error_envelope(quiet_sandbox):
    response = call(quiet_sandbox, "product_ofer/read", {})
    assert response.status == 404
    assert response.json()["isError"] is True and "product_ofer/read" in response.json()["messages"][0]
    wrong_method = call(quiet_sandbox, "product_offer/read", {}, method="GET")
    assert wrong_method.status == 405


def test_it_answers_requests_through_responses(sandbox):
    response = requests.post(
        f"{BASE}/product_offer/read", auth=sandbox.credentials("fbe"), json={"itemsPerPage": 5}, timeout=10
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert [r["id"] for r in response.json()["results"]] == [r["id"] for r in sandbox.catalogue("fbe")[:5]]
    form = requests.post(
        f"{BASE}/product_offer/read",
        auth=sandbox.credentials("fbe"),
        data={"data[currentPage]": "2", "data[itemsPerPage]": "5"},
        timeout=10,
    )
    assert [r["id"] for r in form.json()["results"]] == [r["id"] for r in sandbox.catalogue("fbe")[5:10]]


def test_it_keeps_a_request_log_with_account_route_status_and_duration(quiet_sandbox):
    call(quiet_sandbox, "product_offer/read", {})
    call(quiet_sandbox, "product_offer/count", {}, name="fbe")
    quiet_sandbox.handle("POST", "/api-3/product_offer/read", {}, "")
    log = quiet_sandbox.request_log
    assert [(e.account, e.route, e.status, e.fault) for e in log] == [
        ("main", "product_offer/read", 200, None),
        ("fbe", "product_offer/count", 200, None),
        (None, "product_offer/read", 401, None),
    ]
    assert all(e.duration >= 0 and e.time == 1_000_000.0 for e in log)
    assert json.loads(quiet_sandbox.handle("GET", "/_sandbox/log", {}, "").body)[0]["route"] == "product_offer/read"


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()
