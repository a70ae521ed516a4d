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
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emag.sandbox import faults as fault_rules
from emag.sandbox.bodies import BadBody, TooManyInputVars, header, parse_body
from emag.sandbox.catalogue import AccountCatalogue, created_offer_rng, generate_catalogues
from emag.sandbox.control import introspect
from emag.sandbox.faults import DRIFT_KINDS, FaultPlan, parse_faults, rng_for
from emag.sandbox.injection import (
    FAULTABLE,
    READS,
    REPLACING_FAULTS,
    CorruptedRecord,
    DriftEvent,
    drift,
    fault_response,
    spoil_records,
)
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
from emag.sandbox.ratelimit import RateLimiter, bucket_for
from emag.sandbox.reference import count_categories, handling_times, read_categories, vat_rates
from emag.sandbox.wire import (
    LogEntry,
    SandboxResponse,
    envelope,
    html_response,
    json_response,
    method_not_allowed,
    throttled_response,
)

logger = logging.getLogger(__name__)

DEFAULT_ACCOUNTS: dict[str, tuple[str, str]] = {
    "main": ("main@sandbox.magflow.local", "sandbox-main-secret"),
    "fbe": ("fbe@sandbox.magflow.local", "sandbox-fbe-secret"),
}
API_PREFIX = "/api-3/"
NOT_ALLOWED = "You are not allowed to use this API."


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
    ) -> None:
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
        arrived: float | None = None,
    ) -> SandboxResponse:
        """Answer one request. `path` is the URL path, such as `/api-3/product_offer/read`; `arrived`, when
        the request reached the sandbox in its clock's time (default: now)."""
        started = time.perf_counter()
        method = method.upper()
        headers = dict(headers or {})
        path, _, query = path.partition("?")
        if path.startswith("/_sandbox/"):
            return introspect(self, method, path, headers, body, query)
        # eMAG counts a request when it arrives, however busy it is with others: the time is read before
        # waiting for the sandbox's one lock (which other accounts' requests may hold), unless the
        # transport knows when the request reached the machine (server.py).
        if arrived is None:
            arrived = self.clock()
        with self.lock:
            self.sequence += 1
            sequence = self.sequence
            route = path[len(API_PREFIX) :].strip("/") if path.startswith(API_PREFIX) else path
            account_name = None
            try:
                if route == "documentation/find_by_eans" and query:
                    body = query  # the one GET route: its EANs come in the query string
                    headers["Content-Type"] = "application/x-www-form-urlencoded"
                response, account_name = self._dispatch(
                    method, path, route, headers, body, client_ip, sequence, arrived
                )
            except Exception:  # a sandbox bug must still answer like a server, not kill the transport
                logger.exception("eMAG sandbox failed on %s %s", method, route)
                response = html_response(500, "500 Internal Server Error")
            if self.latency_ms:
                response.delay += self.latency_ms / 1000
            duration = time.perf_counter() - started + response.delay + (self.hang_seconds if response.hang else 0)
            self.request_log.append(
                LogEntry(
                    arrived,
                    account_name,
                    route,
                    0 if response.hang else response.status,
                    round(duration, 6),
                    response.fault,
                    method,
                    sequence,
                )
            )
            return response

    def _dispatch(
        self,
        method: str,
        path: str,
        route: str,
        headers: dict,
        body: Any,
        client_ip: str,
        sequence: int,
        arrived: float,
    ) -> tuple[SandboxResponse, str | None]:
        state, refusal = self._authenticate(headers)
        if refusal is not None:
            return refusal, None
        assert state is not None
        if self.allowed_networks is not None and not self._ip_allowed(client_ip):
            return json_response(
                self.ip_denied_status, envelope(messages=[f"ERROR: Invalid vendor ip [{client_ip}]"], is_error=True)
            ), state.name
        if not path.startswith(API_PREFIX):
            return json_response(404, envelope(messages=[f"Resource {path} not found."], is_error=True)), state.name
        if self.rate_limit:
            wait = self.limiter.check(state.name, bucket_for(route), at=arrived)
            if wait is not None:
                return throttled_response(wait, self.retry_after), state.name
        target = self._resolve(method, route)
        if isinstance(target, SandboxResponse):
            return target, state.name
        base_route, argument = target
        fault = None
        if base_route in FAULTABLE and self.fault_plan:
            fault = fault_rules.draw_request_fault(self.fault_plan, self.seed, sequence)
            if fault in REPLACING_FAULTS:
                response = fault_response(self, fault, sequence)
                response.fault = fault
                return response, state.name
        try:
            payload = parse_body(headers, body)
        except TooManyInputVars as exc:
            return json_response(200, envelope(messages=[str(exc)], is_error=True)), state.name
        except (BadBody, UnicodeDecodeError):
            if base_route == "offer_stock":
                return json_response(400, {"message": "Invalid content"}), state.name
            return json_response(200, envelope(messages=["Invalid request body."], is_error=True)), state.name
        drifted = None
        if base_route in READS and fault_rules.draws_drift(self.fault_plan, self.seed, sequence):
            drifted = drift(self, state, base_route, sequence)
        try:
            response = self._route(state, base_route, argument, payload, sequence)
        except ApiError as error:
            response = json_response(200, envelope(messages=error.messages, is_error=True))
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
            return None, json_response(
                401,
                envelope(messages=["Authentication required."], is_error=True),
                {"WWW-Authenticate": 'Basic realm="eMAG Marketplace API"'},
            )
        scheme, _, token = authorization.partition(" ")
        forbidden = json_response(403, {"isError": True, "messages": [NOT_ALLOWED], "results": []})
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

    def _resolve(self, method: str, route: str) -> tuple[str, str | None] | SandboxResponse:
        parts = route.split("/")
        if len(parts) == 2 and parts[0] == "offer_stock":
            return ("offer_stock", parts[1]) if method == "PATCH" else method_not_allowed(method, route)
        if len(parts) == 3 and parts[:2] == ["order", "acknowledge"]:
            return ("order/acknowledge", parts[2]) if method == "POST" else method_not_allowed(method, route)
        if route == "documentation/find_by_eans":
            return (route, None) if method == "GET" else method_not_allowed(method, route)
        if route in ROUTES:
            return (route, None) if method == "POST" else method_not_allowed(method, route)
        return json_response(404, envelope(messages=[f"The requested resource {route} does not exist."], is_error=True))

    def _route(
        self, state: AccountState, route: str, argument: str | None, payload: Any, sequence: int
    ) -> SandboxResponse:
        catalogue = state.catalogue
        if route == "product_offer/read":
            page_offers, matching, page, per_page = read_offers(catalogue, read_params(payload))
            rows = [o.to_row() for o in page_offers]
            fault = spoil_records(self, state, route, rows, page, per_page, sequence, matching)
            response = json_response(200, envelope(rows))
            response.fault = fault
            return response
        if route == "product_offer/count":
            return json_response(200, envelope(count_offers(catalogue, read_params(payload))))
        if route == "product_offer/save":
            outcome = save_products(
                catalogue,
                payload,
                is_fbe=state.is_fbe,
                pool=self.products,
                new_offer_rng=lambda offer_id: created_offer_rng(self.seed, state.index, offer_id),
                details_seq=state.details_seq,
            )
            return json_response(200, envelope(messages=outcome.messages, is_error=outcome.is_error))
        if route == "offer/save":
            outcome = save_light_offers(catalogue, payload, is_fbe=state.is_fbe)
            return json_response(200, envelope(messages=outcome.messages, is_error=outcome.is_error))
        if route == "offer_stock":
            status, answer = set_offer_stock(catalogue, argument or "", payload, is_fbe=state.is_fbe)
            if status == 204:
                return SandboxResponse(204, {}, b"")
            return json_response(status, answer)
        if route == "vat/read":
            return json_response(200, envelope(vat_rates()))
        if route == "handling_time/read":
            return json_response(200, envelope(handling_times()))
        if route == "category/read":
            return json_response(200, envelope(read_categories(read_params(payload))))
        if route == "category/count":
            return json_response(200, envelope({"noOfItems": str(count_categories())}))
        if route == "documentation/find_by_eans":
            return json_response(200, envelope(find_by_eans(state.catalogue, self.products, payload)))
        if route == "order/read":
            orders, matching, page, per_page = state.orders.read(read_params(payload))
            rows = json.loads(json.dumps(orders))
            fault = spoil_records(self, state, route, rows, page, per_page, sequence, matching)
            response = json_response(200, envelope(rows))
            response.fault = fault
            return response
        if route == "order/count":
            return json_response(200, envelope(state.orders.count(read_params(payload))))
        if route == "order/acknowledge":
            state.orders.acknowledge(catalogue, argument or "", self.now())
            return json_response(200, envelope())
        if route == "order/save":
            messages = state.orders.save(payload, self.now())
            return json_response(200, envelope(messages=messages, is_error=bool(messages)))
        if route == "order/attachments/save":
            messages = state.orders.save_attachments(payload)
            return json_response(200, envelope(messages=messages, is_error=bool(messages)))
        raise ApiError(f"The requested resource {route} does not exist.")  # pragma: no cover - ROUTES guards

    # --- faults ------------------------------------------------------------------------------------

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


def _same(expected: str, given: str) -> bool:
    import hmac

    return hmac.compare_digest(expected.encode(), given.encode())
