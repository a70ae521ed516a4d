"""The sandbox's single request handler: authentication, IP allow-list, rate limits, faults, routes.

`Sandbox.handle()` takes a request and returns a `SandboxResponse`; the HTTP server
(`emag.sandbox.server`) and the `responses` callback (`Sandbox.install`) are thin transports around
it, so tests and demos see exactly the same behaviour.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from emag.sandbox import faults as fault_rules
from emag.sandbox.bodies import BadBody, TooManyInputVars, header, parse_body
from emag.sandbox.catalogue import AccountCatalogue, Offer, created_offer_rng, generate_catalogues, make_offer
from emag.sandbox.faults import DRIFT_KINDS, FaultPlan, parse_faults, rng_for
from emag.sandbox.offers import (
    ApiError,
    count_offers,
    find_by_eans,
    read_offers,
    read_params,
    save_light_offers,
    save_products,
    set_offer_stock,
)
from emag.sandbox.orders import OrderBook
from emag.sandbox.ratelimit import RateLimiter, bucket_for, retry_after_header
from emag.sandbox.reference import count_categories, handling_times, read_categories, vat_rates

DEFAULT_ACCOUNTS: dict[str, tuple[str, str]] = {
    "main": ("main@sandbox.magflow.local", "sandbox-main-secret"),
    "fbe": ("fbe@sandbox.magflow.local", "sandbox-fbe-secret"),
}
API_PREFIX = "/api-3/"
JSON_TYPE = "application/json; charset=utf-8"
NOT_ALLOWED = "You are not allowed to use this API."

# Routes faults may strike: offer and order reads and saves, never counts or reference data.
FAULTABLE = frozenset(
    {
        "product_offer/read",
        "product_offer/save",
        "offer/save",
        "offer_stock",
        "order/read",
        "order/save",
        "order/acknowledge",
        "order/attachments/save",
    }
)
READS = frozenset({"product_offer/read", "order/read"})
# Faults that answer instead of the route: the request changes nothing.
REPLACING_FAULTS = frozenset({"429", "500", "502", "504", "hang", "badjson", "iserror"})
ISERROR_MESSAGES = (
    "An error occurred while processing your request. Please try again later.",
    "Service temporarily unavailable, please retry.",
    "Internal error: could not read the vendor offers.",
)


class LogEntry(NamedTuple):
    """One request as the sandbox saw it; `time` comes from the sandbox clock (epoch seconds by default)."""

    time: float
    account: str | None
    route: str
    status: int
    duration: float
    fault: str | None
    method: str = "POST"
    sequence: int = 0

    def as_dict(self) -> dict:
        return self._asdict()


@dataclass
class SandboxResponse:
    """An answer; `delay` seconds to wait before sending it, or `hang` to never send it."""

    status: int
    headers: dict[str, str]
    body: bytes
    fault: str | None = None
    delay: float = 0.0
    hang: bool = False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class CorruptedRecord:
    """A record a badrecord fault spoiled on the wire (the catalogue itself stays true)."""

    sequence: int
    account: str
    route: str
    page: int
    record_id: int  # the id the record should have carried
    kind: str  # missing_id, wrong_types, negative_price, overlong, duplicate
    detail: str


@dataclass(frozen=True)
class DriftEvent:
    """A catalogue change made by a drift fault just before a read."""

    sequence: int
    account: str
    kind: str  # price, stock, add, remove (offers) or order (a new order)
    record_id: int
    detail: str


@dataclass
class AccountState:
    name: str
    username: str
    password: str
    is_fbe: bool
    catalogue: AccountCatalogue
    orders: OrderBook
    index: int = 0
    details_seq: list[int] = field(default_factory=lambda: [900_000_000])


def normalize_accounts(accounts: Any) -> list[tuple[str, str, str]]:
    """[(name, username, password)] from a dict, or a list of (user, password) / "USER:PASSWORD".

    Unnamed accounts are named main, fbe, account3, account4... in order.
    """
    if accounts is None:
        accounts = DEFAULT_ACCOUNTS
    if isinstance(accounts, dict):
        result = [(name, creds[0], creds[1]) for name, creds in accounts.items()]
    else:
        result = []
        for index, entry in enumerate(accounts):
            if isinstance(entry, str):
                username, sep, password = entry.partition(":")
                if not sep or not username or not password:
                    raise ValueError("An account is given as USER:PASSWORD.")
            else:
                username, password = entry
            result.append((derived_account_name(index), username, password))
    if not result:
        raise ValueError("The sandbox needs at least one account.")
    if len({r[1] for r in result}) != len(result):
        raise ValueError("Two sandbox accounts share a username.")
    return result


def derived_account_name(index: int) -> str:
    return ("main", "fbe")[index] if index < 2 else f"account{index + 1}"


def _parse_networks(allowed_ips: Iterable[str] | str | None) -> list | None:
    if allowed_ips is None:
        return None
    if isinstance(allowed_ips, str):
        allowed_ips = [p for p in allowed_ips.split(",") if p.strip()]
    return [ipaddress.ip_network(p.strip(), strict=False) for p in allowed_ips]


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> SandboxResponse:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return SandboxResponse(status, {"Content-Type": JSON_TYPE, **(headers or {})}, body)


def envelope(results: Any = None, *, messages: Iterable[str] = (), is_error: bool = False) -> dict:
    return {
        "isError": is_error,
        "messages": list(messages),
        "errors": [],
        "results": [] if results is None else results,
    }


def _html_response(status: int, title: str) -> SandboxResponse:
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()
    return SandboxResponse(status, {"Content-Type": "text/html"}, body)


class Sandbox:
    """A simulated eMAG Marketplace API (v4.4.x) with one catalogue per account.

    Sandbox(seed=1, offers=250, accounts=None, faults="", rate_limit=True, latency_ms=0, allowed_ips=None)

    `accounts`: None (DEFAULT_ACCOUNTS), a dict {name: (username, password)}, or a list of
    (username, password) pairs or "USER:PASSWORD" strings, named main, fbe, account3... in order.
    An account whose name starts with "fbe" is Fulfilled by eMAG: its orders are type 2 and it
    refuses stock pushes. `allowed_ips`: None (every caller) or addresses/networks ("10.0.0.0/8").

    Keyword-only extras beyond the architecture contract:

    - orders=0: orders generated per account at start (more with `create_order`).
    - clock=time.time: seconds, for the rate-limit windows and the log times (inject one in tests).
    - now=None: a callable returning an aware datetime for order timestamps (default: wall clock).
    - retry_after=None: None/False sends no Retry-After on 429 (eMAG documents none); True sends the
      seconds until the window frees; a number sends that number.
    - ip_denied_status=200: HTTP status of the `Invalid vendor ip` answer (one source says 403).
    - count_throttled=False: whether 429 answers count against the window (see ratelimit.py).
    - limits=None: per bucket ("orders", "other", "documentation") (per_second, per_minute[, per_day])
      replacing eMAG's (12, 720), (3, 180) and (5, 200, 5000). With sliding windows eMAG's minute
      limits equal 60 times the second limits, so only lower minute limits make that window bind.
    - slow_seconds=3.0: the delay of a `slow` fault over HTTP; mock_slow_seconds=0.05: the real sleep
      of a `slow` fault under `responses` when the caller's read timeout allows the full delay.
    - hang_seconds=600: how long a `hang` holds an HTTP connection (or until the server stops).
    - drift_kinds=("price", "stock", "add", "remove"): what `drift` may do; ("price", "stock") keeps
      the set of ids fixed so a test can compare ids exactly.
    - shared_share=0.6: the share of the first account's SKUs every other account also sells.

    Further methods: set_faults(spec), set_rate_limit(enabled), create_order(name, lines, status=...),
    orders(name), offer(name, id), corrupted_ids(name, route), account_names(), reset_log().
    Over HTTP, besides GET /_sandbox/log and /_sandbox/catalogue/<name>: GET /_sandbox/orders/<name>,
    /_sandbox/faults (with corrupted records and drift events), /_sandbox/accounts; POST
    /_sandbox/faults {"faults": SPEC}, /_sandbox/rate_limit {"enabled": false},
    /_sandbox/orders/<name> {"lines": [[offer_id, quantity]]}, /_sandbox/log/reset.
    Also served: GET documentation/find_by_eans?eans[]=... (5/s, 200/min, 5,000/day).

    Faults: those that answer instead of the route (429, 500, 502, 504, hang, badjson, iserror)
    change nothing; `slow` and `truncated` answers come from a request that was carried out (a save
    is applied even though its answer is late or unreadable, as on a real network).
    Truth after faults: `catalogue(name)` is always the true state (badrecord spoils only the wire
    copy; drift changes the catalogue itself); `corrupted_records` and `drift_events` say what was
    done, with the request sequence number.
    """

    def __init__(
        self,
        seed: int = 1,
        offers: int = 250,
        accounts: Any = None,
        faults: str | dict | FaultPlan | None = "",
        rate_limit: bool = True,
        latency_ms: int = 0,
        allowed_ips: Iterable[str] | str | None = None,
        *,
        orders: int = 0,
        clock: Callable[[], float] = time.time,
        now: Callable[[], datetime] | None = None,
        retry_after: bool | float | None = None,
        ip_denied_status: int = 200,
        count_throttled: bool = False,
        limits: dict[str, tuple[int, ...]] | None = None,
        slow_seconds: float = 3.0,
        mock_slow_seconds: float = 0.05,
        hang_seconds: float = 600.0,
        drift_kinds: Iterable[str] = DRIFT_KINDS,
        shared_share: float = 0.6,
    ):
        if offers < 0:
            raise ValueError("offers must be 0 or more.")
        self.seed = seed
        self.offers_per_account = offers
        self.fault_plan = parse_faults(faults)
        self.rate_limit = rate_limit
        self.latency_ms = latency_ms
        self.allowed_networks = _parse_networks(allowed_ips)
        self.clock = clock
        self.now = now or (lambda: datetime.now(UTC))
        self.retry_after = retry_after
        self.ip_denied_status = ip_denied_status
        self.slow_seconds = slow_seconds
        self.mock_slow_seconds = mock_slow_seconds
        self.hang_seconds = hang_seconds
        self.drift_kinds = tuple(drift_kinds)
        unknown = set(self.drift_kinds) - set(DRIFT_KINDS)
        if unknown or not self.drift_kinds:
            raise ValueError(f"drift_kinds must be taken from {DRIFT_KINDS}.")
        self.limiter = RateLimiter(clock, limits, count_throttled=count_throttled)
        self.request_log: list[LogEntry] = []
        self.corrupted_records: list[CorruptedRecord] = []
        self.drift_events: list[DriftEvent] = []
        self.sequence = 0
        self.lock = threading.RLock()

        named = normalize_accounts(accounts)
        specs = [(name, name.startswith("fbe")) for name, _, _ in named]
        catalogues, self.products = generate_catalogues(seed, offers, specs, shared_share=shared_share)
        self.accounts: dict[str, AccountState] = {}
        for index, (name, username, password) in enumerate(named):
            is_fbe = name.startswith("fbe")
            self.accounts[name] = AccountState(
                name, username, password, is_fbe, catalogues[name], OrderBook(seed, index, 2 if is_fbe else 3), index
            )
        self._by_username = {a.username: a for a in self.accounts.values()}
        for state in self.accounts.values():
            for _ in range(orders if state.catalogue.ids else 0):
                state.orders.create(state.catalogue, self.now())

    # --- the public face ---------------------------------------------------------------------------

    def credentials(self, name: str) -> tuple[str, str]:
        state = self._account(name)
        return state.username, state.password

    def account_names(self) -> list[str]:
        return list(self.accounts)

    def catalogue(self, name: str) -> list[dict]:
        """The account's current offers in id order, shaped exactly as product_offer/read returns them."""
        with self.lock:
            return [offer.to_row() for offer in self._account(name).catalogue.in_order()]

    def offer(self, name: str, offer_id: int) -> dict | None:
        with self.lock:
            offer = self._account(name).catalogue.get(offer_id)
            return offer.to_row() if offer else None

    def orders(self, name: str) -> list[dict]:
        with self.lock:
            book = self._account(name).orders
            return [json.loads(json.dumps(book.orders[i])) for i in sorted(book.orders)]

    def create_order(
        self,
        name: str,
        lines: list[tuple[int, int]] | None = None,
        *,
        status: int = 1,
        payment_mode_id: int | None = None,
        created_at: datetime | None = None,
    ) -> dict:
        """A new order on the account (type 2 on an FBE account, else 3); lines are (offer id, quantity)."""
        with self.lock:
            state = self._account(name)
            order = state.orders.create(state.catalogue, self.now(), lines, status, payment_mode_id, created_at)
            return json.loads(json.dumps(order))

    def set_faults(self, spec: str | dict | FaultPlan | None) -> None:
        with self.lock:
            self.fault_plan = parse_faults(spec)

    def set_rate_limit(self, enabled: bool) -> None:
        with self.lock:
            self.rate_limit = enabled
            self.limiter.reset()

    def reset_log(self) -> None:
        with self.lock:
            self.request_log.clear()

    def corrupted_ids(self, name: str, route: str = "product_offer/read") -> set[int]:
        """Ids whose record was served spoiled at least once on that route."""
        with self.lock:
            return {r.record_id for r in self.corrupted_records if r.account == name and r.route == route}

    def install(self, responses_mock: Any, base_url: str, client_ip: str = "127.0.0.1") -> None:
        from emag.sandbox.transport import install

        install(self, responses_mock, base_url, client_ip=client_ip)

    def serve(self, host: str = "127.0.0.1", port: int = 0, *, background: bool = True) -> Any:
        from emag.sandbox.server import serve

        return serve(self, host, port, background=background)

    # --- the handler -------------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None,
        body: bytes | str | None,
        client_ip: str = "127.0.0.1",
    ) -> SandboxResponse:
        """Answer one request. `path` is the URL path, such as `/api-3/product_offer/read`."""
        started = time.perf_counter()
        method = method.upper()
        headers = dict(headers or {})
        path, _, query = path.partition("?")
        if path.startswith("/_sandbox/"):
            return self._introspect(method, path, headers, body)
        with self.lock:
            self.sequence += 1
            sequence = self.sequence
            arrived = self.clock()
            route = path[len(API_PREFIX) :].strip("/") if path.startswith(API_PREFIX) else path
            account_name = None
            try:
                if route == "documentation/find_by_eans" and query:
                    body = query  # the one GET route: its EANs come in the query string
                    headers["Content-Type"] = "application/x-www-form-urlencoded"
                response, account_name = self._dispatch(method, path, route, headers, body, client_ip, sequence)
            except Exception:  # a sandbox bug must still answer like a server, not kill the transport
                response = _html_response(500, "500 Internal Server Error")
            if self.latency_ms:
                response.delay += self.latency_ms / 1000
            duration = time.perf_counter() - started + response.delay + (self.hang_seconds if response.hang else 0)
            self.request_log.append(
                LogEntry(
                    arrived,
                    account_name,
                    _log_route(route),
                    0 if response.hang else response.status,
                    round(duration, 6),
                    response.fault,
                    method,
                    sequence,
                )
            )
            return response

    def _dispatch(
        self, method: str, path: str, route: str, headers: dict, body: Any, client_ip: str, sequence: int
    ) -> tuple[SandboxResponse, str | None]:
        state, refusal = self._authenticate(headers)
        if refusal is not None:
            return refusal, None
        assert state is not None
        if self.allowed_networks is not None and not self._ip_allowed(client_ip):
            return _json_response(
                self.ip_denied_status, envelope(messages=[f"ERROR: Invalid vendor ip [{client_ip}]"], is_error=True)
            ), state.name
        if not path.startswith(API_PREFIX):
            return _json_response(404, envelope(messages=[f"Resource {path} not found."], is_error=True)), state.name
        if self.rate_limit:
            wait = self.limiter.check(state.name, bucket_for(route))
            if wait is not None:
                return self._throttled(wait), state.name
        target = self._resolve(method, route)
        if isinstance(target, SandboxResponse):
            return target, state.name
        base_route, argument = target
        fault = None
        if base_route in FAULTABLE and self.fault_plan:
            fault = fault_rules.draw_request_fault(self.fault_plan, self.seed, sequence)
            if fault in REPLACING_FAULTS:
                response = self._fault_response(fault, sequence)
                response.fault = fault
                return response, state.name
        try:
            payload = parse_body(headers, body)
        except TooManyInputVars as exc:
            return _json_response(200, envelope(messages=[str(exc)], is_error=True)), state.name
        except (BadBody, UnicodeDecodeError):
            if base_route == "offer_stock":
                return _json_response(400, {"message": "Invalid content"}), state.name
            return _json_response(200, envelope(messages=["Invalid request body."], is_error=True)), state.name
        drifted = None
        if base_route in READS and fault_rules.draws_drift(self.fault_plan, self.seed, sequence):
            drifted = self._drift(state, base_route, sequence)
        try:
            response = self._route(state, base_route, argument, payload, sequence)
        except ApiError as error:
            response = _json_response(200, envelope(messages=error.messages, is_error=True))
        if fault == "slow":
            response.delay += self.slow_seconds
        elif fault == "truncated":
            cut = rng_for(self.seed, "truncate", sequence).uniform(0.1, 0.9)
            response.body = response.body[: max(1, int(len(response.body) * cut))]
        faults = [f for f in (fault, response.fault, "drift" if drifted else None) if f]
        response.fault = ",".join(dict.fromkeys(faults)) or None
        return response, state.name

    def _authenticate(self, headers: dict) -> tuple[AccountState | None, SandboxResponse | None]:
        authorization = header(headers, "Authorization")
        if not authorization:
            return None, _json_response(
                401,
                envelope(messages=["Authentication required."], is_error=True),
                {"WWW-Authenticate": 'Basic realm="eMAG Marketplace API"'},
            )
        scheme, _, token = authorization.partition(" ")
        forbidden = _json_response(403, {"isError": True, "messages": [NOT_ALLOWED], "results": []})
        if scheme.lower() != "basic":
            return None, forbidden
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, forbidden
        username, _, password = decoded.partition(":")
        state = self._by_username.get(username)
        if state is None or not _same(state.password, password):
            return None, forbidden
        return state, None

    def _ip_allowed(self, client_ip: str) -> bool:
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        return any(address in network for network in self.allowed_networks or [])

    def _throttled(self, wait: float) -> SandboxResponse:
        headers = {}
        if self.retry_after is True:
            headers["Retry-After"] = retry_after_header(wait)
        elif self.retry_after not in (None, False):
            headers["Retry-After"] = retry_after_header(float(self.retry_after))
        return _json_response(429, {"message": "API rate limit exceeded"}, headers)

    def _resolve(self, method: str, route: str) -> tuple[str, str | None] | SandboxResponse:
        parts = route.split("/")
        if len(parts) == 2 and parts[0] == "offer_stock":
            return ("offer_stock", parts[1]) if method == "PATCH" else _method_not_allowed(method, route)
        if len(parts) == 3 and parts[:2] == ["order", "acknowledge"]:
            return ("order/acknowledge", parts[2]) if method == "POST" else _method_not_allowed(method, route)
        if route == "documentation/find_by_eans":
            return (route, None) if method == "GET" else _method_not_allowed(method, route)
        if route in ROUTES:
            return (route, None) if method == "POST" else _method_not_allowed(method, route)
        return _json_response(
            404, envelope(messages=[f"The requested resource {route} does not exist."], is_error=True)
        )

    def _route(
        self, state: AccountState, route: str, argument: str | None, payload: Any, sequence: int
    ) -> SandboxResponse:
        catalogue = state.catalogue
        if route == "product_offer/read":
            page_offers, matching, page, per_page = read_offers(catalogue, read_params(payload))
            rows = [o.to_row() for o in page_offers]
            fault = self._spoil_records(state, route, rows, page, per_page, sequence, matching, page_offers)
            response = _json_response(200, envelope(rows))
            response.fault = fault
            return response
        if route == "product_offer/count":
            return _json_response(200, envelope(count_offers(catalogue, read_params(payload))))
        if route == "product_offer/save":
            outcome = save_products(
                catalogue,
                payload,
                is_fbe=state.is_fbe,
                pool=self.products,
                new_offer_rng=lambda offer_id: created_offer_rng(self.seed, state.index, offer_id),
                details_seq=state.details_seq,
            )
            return _json_response(200, envelope(messages=outcome.messages, is_error=outcome.is_error))
        if route == "offer/save":
            outcome = save_light_offers(catalogue, payload, is_fbe=state.is_fbe)
            return _json_response(200, envelope(messages=outcome.messages, is_error=outcome.is_error))
        if route == "offer_stock":
            status, answer = set_offer_stock(catalogue, argument or "", payload, is_fbe=state.is_fbe)
            if status == 204:
                return SandboxResponse(204, {}, b"")
            return _json_response(status, answer)
        if route == "vat/read":
            return _json_response(200, envelope(vat_rates()))
        if route == "handling_time/read":
            return _json_response(200, envelope(handling_times()))
        if route == "category/read":
            return _json_response(200, envelope(read_categories(read_params(payload))))
        if route == "category/count":
            return _json_response(200, envelope({"noOfItems": str(count_categories())}))
        if route == "documentation/find_by_eans":
            return _json_response(200, envelope(find_by_eans(state.catalogue, self.products, payload)))
        if route == "order/read":
            orders, matching, page, per_page = state.orders.read(read_params(payload))
            rows = json.loads(json.dumps(orders))
            fault = self._spoil_records(state, route, rows, page, per_page, sequence, matching, orders)
            response = _json_response(200, envelope(rows))
            response.fault = fault
            return response
        if route == "order/count":
            return _json_response(200, envelope(state.orders.count(read_params(payload))))
        if route == "order/acknowledge":
            state.orders.acknowledge(catalogue, argument or "", self.now())
            return _json_response(200, envelope())
        if route == "order/save":
            messages = state.orders.save(payload, self.now())
            return _json_response(200, envelope(messages=messages, is_error=bool(messages)))
        if route == "order/attachments/save":
            messages = state.orders.save_attachments(payload)
            return _json_response(200, envelope(messages=messages, is_error=bool(messages)))
        raise ApiError(f"The requested resource {route} does not exist.")  # pragma: no cover - ROUTES guards

    # --- faults ------------------------------------------------------------------------------------

    def _fault_response(self, fault: str, sequence: int) -> SandboxResponse:
        rng = rng_for(self.seed, "answer", sequence)
        if fault == "429":
            return self._throttled(1.0)
        if fault == "500":
            return _html_response(500, "500 Internal Server Error")
        if fault == "502":
            return _html_response(502, "502 Bad Gateway")
        if fault == "504":
            if rng.random() < 0.5:
                return SandboxResponse(504, {"Content-Type": "text/html"}, b"")
            return _html_response(504, "504 Gateway Time-out")
        if fault == "hang":
            return SandboxResponse(0, {}, b"", hang=True)
        if fault == "badjson":
            body = (
                '<!DOCTYPE html><html lang="ro"><head><title>eMAG Marketplace</title></head>'
                "<body><h1>Ne pare rău, revenim imediat.</h1><p>Lucrăm la îmbunătățirea platformei.</p></body></html>"
            ).encode()
            return SandboxResponse(200, {"Content-Type": "text/html; charset=utf-8"}, body)
        return _json_response(200, envelope(messages=[rng.choice(ISERROR_MESSAGES)], is_error=True))

    def _spoil_records(
        self,
        state: AccountState,
        route: str,
        rows: list[dict],
        page: int,
        per_page: int,
        sequence: int,
        matching: list | None,
        page_items: list,
    ) -> str | None:
        rate = self.fault_plan.rate("badrecord")
        if not rate or not rows:
            return None
        rng = rng_for(self.seed, "badrecord", sequence)
        spoiled = False
        for position, row in enumerate(rows):
            if rng.random() >= rate:
                continue
            true_id = row["id"]
            kind = rng.choice(fault_rules.BADRECORD_KINDS)
            other = (
                self._record_from_other_page(state, route, page, per_page, matching, rng)
                if kind == "duplicate"
                else None
            )
            if kind == "duplicate" and other is None:
                kind = "missing_id"
            detail = fault_rules.spoil_record(row, kind, rng, route, other)
            if kind == "duplicate":
                rows[position] = other
            self.corrupted_records.append(CorruptedRecord(sequence, state.name, route, page, true_id, kind, detail))
            spoiled = True
        return "badrecord" if spoiled else None

    def _record_from_other_page(
        self, state: AccountState, route: str, page: int, per_page: int, matching: list | None, rng: Any
    ) -> dict | None:
        items = matching  # None for an unfiltered offer read: the whole catalogue, generated lazily
        total = len(items) if items is not None else len(state.catalogue)
        start, stop = (page - 1) * per_page, page * per_page
        # The neighbouring pages, as an offset that slid under the reader would repeat them.
        near = [i for i in range(max(0, start - per_page), min(total, stop + per_page)) if not start <= i < stop]
        if not near:
            near = [i for i in range(total) if not start <= i < stop]
        if not near:
            return None
        position = rng.choice(near)
        item = items[position] if items is not None else state.catalogue.at(position)
        return json.loads(json.dumps(item)) if isinstance(item, dict) else item.to_row()

    def _drift(self, state: AccountState, route: str, sequence: int) -> DriftEvent | None:
        rng = rng_for(self.seed, "drift-change", sequence)
        catalogue = state.catalogue
        if route == "order/read":
            if not catalogue.ids:
                return None
            order = state.orders.create(catalogue, self.now())
            event = DriftEvent(sequence, state.name, "order", order["id"], "a new order arrived")
        else:
            kind = rng.choice(self.drift_kinds)
            if kind != "add" and not catalogue.ids:
                kind = "add"
            if kind == "add":
                event = self._drift_add(state, rng, sequence)
            else:
                offer = catalogue.at(rng.randrange(len(catalogue)))
                if kind == "price":
                    old = offer.sale_price
                    offer.sale_price = rng.randint(offer.min_sale_price, offer.max_sale_price)
                    if offer.buy_button_rank == 1:
                        offer.best_offer_sale_price = offer.sale_price
                    event = DriftEvent(
                        sequence, state.name, "price", offer.id, f"sale_price {old} -> {offer.sale_price}"
                    )
                elif kind == "stock":
                    old = offer.stock
                    offer.stock = max(0, old + rng.choice((-5, -2, -1, 1, 3, 10)))
                    offer.reserved = min(offer.reserved, offer.stock)
                    event = DriftEvent(sequence, state.name, "stock", offer.id, f"stock {old} -> {offer.stock}")
                else:
                    catalogue.remove(offer.id)
                    event = DriftEvent(sequence, state.name, "remove", offer.id, "offer removed")
        self.drift_events.append(event)
        return event

    def _drift_add(self, state: AccountState, rng: Any, sequence: int) -> DriftEvent:
        product = self.products.new_product()
        offer_id = state.catalogue.next_free_id() + rng.randrange(0, 3)
        state.details_seq[0] += 7
        offer: Offer = make_offer(rng, offer_id, product, is_fbe=state.is_fbe, details_id=state.details_seq[0])
        state.catalogue.add(offer)
        return DriftEvent(sequence, state.name, "add", offer_id, "offer added")

    # --- introspection -----------------------------------------------------------------------------

    def _introspect(self, method: str, path: str, headers: dict, body: Any) -> SandboxResponse:
        """`/_sandbox/...`: the truth and the controls, for benchmarks and tests in another process."""
        parts = path.strip("/").split("/")
        if method == "POST":
            return self._control(parts, headers, body)
        if method != "GET":
            return _method_not_allowed(method, path)
        with self.lock:
            if parts == ["_sandbox", "log"]:
                return _json_response(200, [entry.as_dict() for entry in self.request_log])
            if parts == ["_sandbox", "faults"]:
                return _json_response(
                    200,
                    {
                        "faults": self.fault_plan.spec(),
                        "corrupted_records": [r.__dict__ for r in self.corrupted_records],
                        "drift_events": [e.__dict__ for e in self.drift_events],
                    },
                )
            if parts == ["_sandbox", "accounts"]:
                return _json_response(
                    200,
                    [{"name": s.name, "is_fbe": s.is_fbe, "offers": len(s.catalogue)} for s in self.accounts.values()],
                )
            if len(parts) == 3 and parts[1] in ("catalogue", "orders") and parts[2] in self.accounts:
                return _json_response(
                    200, self.catalogue(parts[2]) if parts[1] == "catalogue" else self.orders(parts[2])
                )
        return _json_response(404, {"message": f"Unknown sandbox resource {path}"})

    def _control(self, parts: list[str], headers: dict, body: Any) -> SandboxResponse:
        """POST /_sandbox/faults {"faults": SPEC}, /_sandbox/rate_limit {"enabled": bool},
        /_sandbox/orders/<name> {"lines": [[offer_id, quantity]], "status": 1}, /_sandbox/log/reset."""
        try:
            payload = parse_body(headers, body) or {}
        except (BadBody, TooManyInputVars, UnicodeDecodeError):
            return _json_response(400, {"message": "Invalid JSON body"})
        if not isinstance(payload, dict):
            return _json_response(400, {"message": "The body must be a JSON object"})
        try:
            if parts == ["_sandbox", "faults"]:
                self.set_faults(payload.get("faults", ""))
                return _json_response(200, {"faults": self.fault_plan.spec()})
            if parts == ["_sandbox", "rate_limit"]:
                self.set_rate_limit(bool(payload.get("enabled", True)))
                return _json_response(200, {"enabled": self.rate_limit})
            if parts == ["_sandbox", "log", "reset"]:
                self.reset_log()
                return _json_response(200, {"entries": 0})
            if len(parts) == 3 and parts[1] == "orders" and parts[2] in self.accounts:
                lines = payload.get("lines")
                order = self.create_order(
                    parts[2],
                    [(int(offer_id), int(quantity)) for offer_id, quantity in lines] if lines else None,
                    status=int(payload.get("status", 1)),
                )
                return _json_response(201, order)
        except (ValueError, TypeError) as exc:
            return _json_response(400, {"message": str(exc)})
        return _json_response(404, {"message": f"Unknown sandbox resource /{'/'.join(parts)}"})

    def _account(self, name: str) -> AccountState:
        try:
            return self.accounts[name]
        except KeyError:
            raise KeyError(f"No sandbox account named {name!r}; accounts: {', '.join(self.accounts)}.")


ROUTES = frozenset(
    {
        "product_offer/read",
        "product_offer/count",
        "product_offer/save",
        "offer/save",
        "vat/read",
        "handling_time/read",
        "category/read",
        "category/count",
        "order/read",
        "order/count",
        "order/save",
        "order/attachments/save",
    }
)


def _method_not_allowed(method: str, route: str) -> SandboxResponse:
    return _json_response(405, envelope(messages=[f"Method {method} is not allowed on {route}."], is_error=True))


def _log_route(route: str) -> str:
    return route


def _same(expected: str, given: str) -> bool:
    import hmac

    return hmac.compare_digest(expected.encode(), given.encode())
