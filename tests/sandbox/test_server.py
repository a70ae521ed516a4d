import sys
import threading
import time

import pytest
import requests

from emag.sandbox import Sandbox


@pytest.fixture
def served(mocked_responses):
    mocked_responses.add_passthru("http://127.0.0.1")
    sb = Sandbox(seed=3, offers=120, orders=5)
    server = sb.serve("127.0.0.1", 0)
    yield sb, server, f"http://127.0.0.1:{server.server_address[1]}"
    server.stop()


def test_it_serves_the_same_api_over_http(served):
    sb, server, root = served
    response = requests.post(
        f"{root}/api-3/product_offer/read", auth=sb.credentials("main"), json={"itemsPerPage": 100}, timeout=10
    )
    assert response.status_code == 200
    assert response.json()["results"] == sb.catalogue("main")[:100]
    form = requests.post(
        f"{root}/api-3/product_offer/read",
        auth=sb.credentials("main"),
        data={"data[currentPage]": "2", "data[itemsPerPage]": "100"},
        timeout=10,
    )
    assert form.json()["results"] == sb.catalogue("main")[100:]
    assert requests.post(f"{root}/api-3/product_offer/read", json={}, timeout=10).status_code == 401


def test_it_throttles_a_burst_of_ten_quick_requests_over_http(served):
    sb, server, root = served
    with requests.Session() as session:
        statuses = [
            session.post(
                f"{root}/api-3/product_offer/count", auth=sb.credentials("fbe"), json={}, timeout=10
            ).status_code
            for _ in range(10)
        ]
    assert statuses[:3] == [200, 200, 200] and statuses.count(429) >= 6


def test_it_exposes_the_log_and_the_truth_over_http(served):
    sb, server, root = served
    requests.post(f"{root}/api-3/order/read", auth=sb.credentials("main"), json={}, timeout=10)
    log = requests.get(f"{root}/_sandbox/log", timeout=10).json()
    assert log[-1]["account"] == "main" and log[-1]["route"] == "order/read" and log[-1]["status"] == 200
    assert set(log[-1]) >= {"time", "account", "route", "status", "duration", "fault"}
    assert requests.get(f"{root}/_sandbox/catalogue/fbe", timeout=10).json() == sb.catalogue("fbe")
    second_page = requests.get(f"{root}/_sandbox/catalogue/fbe?page=2&per_page=50", timeout=10).json()
    assert second_page == sb.catalogue("fbe")[50:100]
    assert len(requests.get(f"{root}/_sandbox/orders/main", timeout=10).json()) == 5
    assert requests.get(f"{root}/_sandbox/catalogue/nobody", timeout=10).status_code == 404


def test_it_answers_concurrent_clients(served):
    sb, server, root = served
    sb.set_rate_limit(False)
    results = []

    def read(page):
        r = requests.post(
            f"{root}/api-3/product_offer/read", auth=sb.credentials("main"), json={"currentPage": page}, timeout=10
        )
        results.append(len(r.json()["results"]))

    threads = [threading.Thread(target=read, args=(p,)) for p in (1, 2, 3, 1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 0, 20, 20, 100, 100]


def test_it_takes_controls_over_http_for_other_processes(served):
    sb, server, root = served
    assert requests.post(f"{root}/_sandbox/faults", json={"faults": "500:1"}, timeout=10).json() == {"faults": "500:1"}
    assert (
        requests.post(f"{root}/api-3/order/read", auth=sb.credentials("main"), json={}, timeout=10).status_code == 500
    )
    assert requests.post(f"{root}/_sandbox/faults", json={"faults": "boom:1"}, timeout=10).status_code == 400
    requests.post(f"{root}/_sandbox/faults", json={"faults": ""}, timeout=10)
    offer = sb.catalogue("main")[0]
    created = requests.post(f"{root}/_sandbox/orders/main", json={"lines": [[offer["id"], 1]]}, timeout=10)
    assert created.status_code == 201 and created.json()["products"][0]["product_id"] == offer["id"]
    assert requests.post(f"{root}/_sandbox/rate_limit", json={"enabled": False}, timeout=10).json() == {
        "enabled": False
    }
    assert sb.rate_limit is False
    assert requests.post(f"{root}/_sandbox/log/reset", json={}, timeout=10).status_code == 200
    assert sb.request_log == []


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's receive times are read on Linux only")
def test_it_counts_a_request_from_when_it_reached_the_machine_not_from_when_a_thread_got_to_it(served, monkeypatch):
    from emag.sandbox.server import SandboxRequestHandler

    sb, server, root = served
    # A request's thread that waits for the interpreter before it reads the request, as on a busy machine.
    parse = SandboxRequestHandler.parse_request

    def parse_after_a_wait(handler):
        time.sleep(0.3)
        return parse(handler)

    monkeypatch.setattr(SandboxRequestHandler, "parse_request", parse_after_a_wait)
    sent = time.time()
    response = requests.post(f"{root}/api-3/product_offer/count", auth=sb.credentials("main"), json={}, timeout=10)
    assert response.status_code == 200
    assert time.time() - sent >= 0.3
    assert sb.request_log[-1].time - sent < 0.1
