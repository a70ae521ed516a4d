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
