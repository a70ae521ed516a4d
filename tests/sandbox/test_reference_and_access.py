from emag.sandbox import Sandbox

from .conftest import call


def test_it_reads_vat_rates_and_handling_times(quiet_sandbox):
    vat = call(quiet_sandbox, "vat/read", {}).json()
    assert vat["isError"] is False
    assert {v["vat_id"]: v["vat_rate"] for v in vat["results"]} == {1: "0.2100", 2: "0.1100", 3: "0.0000"}
    handling = call(quiet_sandbox, "handling_time/read", {}).json()["results"]
    assert {"id": 0} in handling and {"id": 1} in handling


def test_it_reads_categories_and_their_characteristics_by_id(quiet_sandbox):
    categories = call(quiet_sandbox, "category/read", {}).json()["results"]
    assert {c["id"] for c in categories} >= {r["category_id"] for r in quiet_sandbox.catalogue("main")}
    assert {0, 1} == {c["is_allowed"] for c in categories}
    one = call(quiet_sandbox, "category/read", {"id": 1907}).json()["results"]
    assert len(one) == 1 and one[0]["name"] == "Pantofi sport bărbați"
    assert any(c["id"] == 6506 for c in one[0]["characteristics"]) and one[0]["family_types"]
    assert call(quiet_sandbox, "category/read", {"id": 1}).json()["results"] == []


def test_it_refuses_a_caller_outside_the_ip_allow_list_with_emags_message():
    sb = Sandbox(seed=1, offers=10, rate_limit=False, allowed_ips=["192.0.2.0/24", "127.0.0.1"])
    assert call(sb, "product_offer/read", {}, client_ip="192.0.2.55").json()["isError"] is False
    assert call(sb, "product_offer/read", {}).json()["isError"] is False
    refused = call(sb, "product_offer/read", {}, client_ip="203.0.113.7")
    assert refused.status == 200
    assert refused.json() == {
        "isError": True,
        "messages": ["ERROR: Invalid vendor ip [203.0.113.7]"],
        "errors": [],
        "results": [],
    }


def test_it_can_answer_the_ip_refusal_with_403():
    sb = Sandbox(seed=1, offers=10, allowed_ips="10.0.0.1", ip_denied_status=403)
    refused = call(sb, "product_offer/count", {}, client_ip="203.0.113.7")
    assert refused.status == 403 and refused.json()["messages"] == ["ERROR: Invalid vendor ip [203.0.113.7]"]


def test_it_serves_accounts_given_as_user_password_pairs_named_in_order():
    sb = Sandbox(seed=1, offers=5, accounts=["a@x.ro:one", "b@x.ro:two", "c@x.ro:three"], rate_limit=False)
    assert sb.account_names() == ["main", "fbe", "account3"]
    assert sb.credentials("account3") == ("c@x.ro", "three")
    assert call(sb, "product_offer/count", {}, name="account3").json()["results"]["noOfItems"] == "5"


def test_it_finds_products_by_ean_with_get_and_says_whether_we_sell_them(quiet_sandbox):
    from .conftest import auth_headers

    main_row = quiet_sandbox.catalogue("main")[0]
    fbe_only = next(
        r for r in quiet_sandbox.catalogue("fbe") if r["id"] and quiet_sandbox.offer("main", r["id"]) is None
        and r["part_number_key"] not in {m["part_number_key"] for m in quiet_sandbox.catalogue("main")}
    )  # fmt: skip
    query = f"eans[]={main_row['ean'][0]}&eans[]={fbe_only['ean'][0]}&eans[]=5940000000000"
    response = quiet_sandbox.handle(
        "GET", f"/api-3/documentation/find_by_eans?{query}", auth_headers(quiet_sandbox), None
    )
    results = response.json()["results"]
    assert [r["part_number_key"] for r in results] == [main_row["part_number_key"], fbe_only["part_number_key"]]
    assert [r["vendor_has_offer"] for r in results] == [True, False]
    assert results[0]["product_name"] == main_row["name"] and results[0]["brand_name"] == main_row["brand"]
    missing = quiet_sandbox.handle("GET", "/api-3/documentation/find_by_eans", auth_headers(quiet_sandbox), None)
    assert missing.json()["isError"] is True
    assert call(quiet_sandbox, "documentation/find_by_eans", {"eans": ["1"]}).status == 405


def test_it_limits_ean_lookups_to_five_a_second_and_5000_a_day(clock):
    from .conftest import auth_headers

    sb = Sandbox(seed=1, offers=10, clock=clock)
    path = "/api-3/documentation/find_by_eans?eans[]=5940000000000"
    statuses = [sb.handle("GET", path, auth_headers(sb), None).status for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert call(sb, "product_offer/count", {}).status == 200  # a bucket of its own
    day = Sandbox(seed=1, offers=10, clock=clock, limits={"documentation": (1000, 1000, 7)})
    statuses = []
    for _ in range(9):
        statuses.append(day.handle("GET", path, auth_headers(day), None).status)
        clock.advance(3600)
    assert statuses == [200] * 7 + [429, 429]
    clock.advance(86_400)
    assert day.handle("GET", path, auth_headers(day), None).status == 200
