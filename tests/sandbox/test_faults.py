import contextlib
import json
import threading
import time

import pytest
import requests

from emag.sandbox import FaultSpecError, Sandbox, parse_faults

from .conftest import BASE, call


def _sandbox(faults, clock, **kwargs):
    return Sandbox(seed=5, offers=250, rate_limit=False, clock=clock, faults=faults, **kwargs)


def _is_json(response):
    try:
        json.loads(response.body)
    except ValueError:
        return False
    return True


def test_it_parses_the_fault_syntax_and_explains_mistakes():
    plan = parse_faults("429:0.05,500:0.03,badrecord:0.05")
    assert plan.rates == {"429": 0.05, "500": 0.03, "badrecord": 0.05}
    assert not parse_faults("")
    for bad, fragment in [
        ("boom:0.1", "Unknown fault kind"),
        ("500", "needs a rate"),
        ("500:x", "not a number"),
        ("500:1.5", "between 0 and 1"),
        ("500:0.6,502:0.6", "add up"),
        ("500:0.1,500:0.2", "twice"),
    ]:
        with pytest.raises(FaultSpecError, match=fragment):
            parse_faults(bad)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_it_answers_server_errors_without_json_and_without_doing_the_work(clock, status):
    sb = _sandbox(f"{status}:1", clock)
    row = sb.catalogue("main")[0]
    response = call(sb, "offer/save", {"data": [{"id": row["id"], "status": 0}]})
    assert response.status == status and response.fault == str(status)
    assert not _is_json(response)
    assert sb.offer("main", row["id"]) == row
    assert sb.request_log[-1].fault == str(status) and sb.request_log[-1].status == status


def test_it_injects_429_like_the_real_limit(clock):
    sb = _sandbox("429:1", clock)
    response = call(sb, "order/read", {})
    assert response.status == 429 and response.json() == {"message": "API rate limit exceeded"}
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"


def test_it_never_faults_counts_or_reference_reads(clock):
    sb = _sandbox("500:0.5,badjson:0.5", clock)
    for route in ("product_offer/count", "order/count", "vat/read", "handling_time/read", "category/read"):
        for _ in range(10):
            response = call(sb, route, {})
            assert response.status == 200 and response.fault is None and response.json()["isError"] is False


def test_it_strikes_at_about_the_rate_asked(clock):
    sb = _sandbox("500:0.2", clock)
    faults = sum(call(sb, "product_offer/read", {"itemsPerPage": 1}).status == 500 for _ in range(500))
    assert 70 <= faults <= 130


def test_it_truncates_bodies_so_they_do_not_parse(clock):
    sb = _sandbox("truncated:1", clock)
    response = call(sb, "product_offer/read", {})
    full = json.dumps(Sandbox(seed=5, offers=250).catalogue("main")[:100], ensure_ascii=False)
    assert response.status == 200 and response.fault == "truncated" and not _is_json(response)
    assert response.text.startswith('{"isError":false') and len(response.body) < len(full.encode())


def test_it_answers_html_instead_of_json_for_badjson(clock):
    response = call(_sandbox("badjson:1", clock), "product_offer/read", {})
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")
    assert not _is_json(response)


def test_it_answers_iserror_with_a_message(clock):
    body = call(_sandbox("iserror:1", clock), "order/read", {}).json()
    assert body["isError"] is True and body["messages"] and body["results"] == []


def test_it_marks_slow_and_hang_answers_for_the_transport(clock):
    slow = call(_sandbox("slow:1", clock, slow_seconds=2.5), "product_offer/read", {})
    assert slow.status == 200 and slow.delay == 2.5 and slow.json()["isError"] is False
    hang = call(_sandbox("hang:1", clock), "product_offer/read", {})
    assert hang.hang is True


def test_it_raises_read_timeout_for_hang_under_responses(mocked_responses, clock):
    sb = _sandbox("hang:1", clock)
    sb.install(mocked_responses, BASE)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(f"{BASE}/product_offer/read", auth=sb.credentials("main"), json={}, timeout=(3, 30))
    assert sb.request_log[-1].fault == "hang" and sb.request_log[-1].status == 0


def test_it_times_out_a_slow_answer_under_responses_only_past_the_callers_timeout(mocked_responses, clock):
    sb = _sandbox("slow:1", clock, slow_seconds=5, mock_slow_seconds=0.01)
    sb.install(mocked_responses, BASE)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(f"{BASE}/product_offer/read", auth=sb.credentials("main"), json={}, timeout=(3, 2))
    started = time.monotonic()
    response = requests.post(f"{BASE}/product_offer/read", auth=sb.credentials("main"), json={}, timeout=10)
    assert response.status_code == 200 and len(response.json()["results"]) == 100
    assert 0.01 <= time.monotonic() - started < 1


def test_it_really_delays_and_hangs_over_http(mocked_responses, clock):
    mocked_responses.add_passthru("http://127.0.0.1")
    sb = _sandbox("slow:1", clock, slow_seconds=0.4)
    server = sb.serve()
    url = f"http://127.0.0.1:{server.server_address[1]}/api-3/product_offer/read"
    try:
        started = time.monotonic()
        assert requests.post(url, auth=sb.credentials("main"), json={}, timeout=5).status_code == 200
        assert time.monotonic() - started >= 0.4
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(url, auth=sb.credentials("main"), json={}, timeout=(2, 0.2))
        sb.set_faults("hang:1")
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(url, auth=sb.credentials("main"), json={}, timeout=(2, 0.5))
        # A hanging request still in flight must not keep the server from stopping.
        hanging = threading.Thread(
            target=lambda: _swallow(lambda: requests.post(url, auth=sb.credentials("main"), json={}, timeout=30))
        )
        hanging.start()
        time.sleep(0.2)
    finally:
        server.stop()
    hanging.join(timeout=5)
    assert not hanging.is_alive()


def _swallow(fn):
    with contextlib.suppress(requests.RequestException):
        fn()


def test_it_spoils_records_at_the_per_record_rate_and_says_which(clock):
    sb = _sandbox("badrecord:0.05", clock)
    truth = {r["id"]: r for r in sb.catalogue("main")}
    wire = []
    for page in (1, 2, 3):
        wire += call(sb, "product_offer/read", {"currentPage": page}).json()["results"]
    spoiled = sb.corrupted_records
    assert 4 <= len(spoiled) <= 30
    assert {r.kind for r in spoiled} <= {"missing_id", "wrong_types", "negative_price", "overlong", "duplicate"}
    spoiled_ids = sb.corrupted_ids("main")
    # Every record the sandbox did not spoil arrives exactly true.
    clean = [r for r in wire if "id" in r and r["id"] in truth and r["id"] not in spoiled_ids and r == truth[r["id"]]]
    duplicates = [r for r in spoiled if r.kind == "duplicate"]
    assert len(clean) == 250 - len(spoiled_ids) + len(duplicates) - _duplicate_copies_of_spoiled(spoiled, spoiled_ids)
    assert {r["id"] for r in clean} | spoiled_ids == set(truth)


def _duplicate_copies_of_spoiled(records, spoiled_ids):
    return sum(1 for r in records if r.kind == "duplicate" and int(r.detail.rsplit(" ", 1)[1]) in spoiled_ids)


@pytest.mark.parametrize("kind", ["missing_id", "wrong_types", "negative_price", "overlong", "duplicate"])
def test_it_produces_each_kind_of_bad_record(clock, kind):
    sb = _sandbox("badrecord:0.3", clock)
    for page in (1, 2, 3, 1, 2, 3):
        rows = call(sb, "product_offer/read", {"currentPage": page}).json()["results"]
        for record in [r for r in sb.corrupted_records if r.kind == kind]:
            if record.sequence == sb.sequence:
                bad = _spoiled_row(rows, record)
                if kind == "missing_id":
                    assert bad is None or "id" not in bad
                elif kind == "negative_price":
                    assert bad["sale_price"].startswith("-")
                elif kind == "overlong":
                    assert len(bad["name"]) > 255 or len(bad["part_number"]) > 25
                elif kind == "wrong_types":
                    assert record.detail.split(" ")[0] in bad
                return
    pytest.fail(f"no {kind} record in six pages")


def _spoiled_row(rows, record):
    return next((r for r in rows if r.get("id") == record.record_id), None)


def test_it_spoils_order_records_too(clock):
    sb = _sandbox("badrecord:1", clock, orders=3)
    rows = call(sb, "order/read", {}).json()["results"]
    assert len(sb.corrupted_ids("main", "order/read")) == 3
    assert rows != sb.orders("main")


def test_it_changes_the_catalogue_between_page_reads_for_drift(clock):
    sb = _sandbox("drift:1", clock)
    before = {r["id"]: r for r in sb.catalogue("main")}
    for page in (1, 2, 3):
        call(sb, "product_offer/read", {"currentPage": page})
    events = sb.drift_events
    assert len(events) == 3 and {e.kind for e in events} <= {"price", "stock", "add", "remove"}
    after = {r["id"]: r for r in sb.catalogue("main")}
    changed = {i for i in before if i in after and before[i] != after[i]}
    assert changed | (set(before) ^ set(after)) == {e.record_id for e in events}
    count = call(sb, "product_offer/count", {}).json()["results"]["noOfItems"]
    assert count == str(len(after))


def test_it_can_restrict_drift_to_changes_in_place(clock):
    sb = _sandbox("drift:1", clock, drift_kinds=("price", "stock"))
    ids = [r["id"] for r in sb.catalogue("main")]
    for _ in range(20):
        call(sb, "product_offer/read", {})
    assert [r["id"] for r in sb.catalogue("main")] == ids
    assert {e.kind for e in sb.drift_events} == {"price", "stock"}
    for event in sb.drift_events:
        row = sb.offer("main", event.record_id)
        assert float(row["min_sale_price"]) <= float(row["sale_price"]) <= float(row["max_sale_price"])


def test_it_drifts_orders_by_adding_new_ones(clock):
    sb = _sandbox("drift:1", clock)
    call(sb, "order/read", {})
    assert [e.kind for e in sb.drift_events] == ["order"] and len(sb.orders("main")) == 1


def test_it_runs_the_same_way_twice_with_the_same_seed(clock):
    spec = "429:0.1,500:0.05,502:0.05,504:0.05,truncated:0.05,badjson:0.05,iserror:0.05,badrecord:0.02,drift:0.2"

    def run(seed):
        sb = Sandbox(seed=seed, offers=250, rate_limit=False, clock=clock, faults=spec)
        answers = []
        for page in [1, 2, 3] * 10:
            response = call(sb, "product_offer/read", {"currentPage": page})
            answers.append((response.status, response.fault, response.body))
        return answers, sb.corrupted_records, sb.drift_events, sb.catalogue("main")

    first, second, other = run(11), run(11), run(12)
    assert first == second
    assert first[0] != other[0]
    assert {a[1] for a in first[0]} > {None}
