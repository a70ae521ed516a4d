"""The eMAG Marketplace API client: the only module in MagFlow that imports `requests`.

One method per route MagFlow uses. Every HTTP request:
- waits for a slot from the shared rate limiter (emag.ratelimit) of its account and bucket;
- has a connect and a read timeout, follows no redirect, and reads at most
  EMAG_MAX_RESPONSE_BYTES of body;
- is decoded with decimals kept as Decimal, and checked for eMAG's envelope: anything
  that lacks `isError: false` is a failure;
- is recorded as one ApiCall row and logged (route, status, attempt, duration; never the
  password nor the Authorization header).

Failures are named errors (EmagError subclasses) that say whether they are permanent.
Transient ones (429, 5xx, timeouts, connection errors, bad or truncated bodies) are
retried with exponential backoff and jitter, honouring Retry-After, at most
EMAG_MAX_TRIES times in all; permanent ones (credentials, IP whitelist, business
refusals) are raised at once.
"""

import copy
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
import urllib3
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from emag import crypto, ratelimit
from emag.coerce import to_int, to_object

logger = logging.getLogger(__name__)

SAVE_BATCH_SIZE = 50
MAX_PAGE_SIZE = 100
# Backoff before try n+1 is BASE * 2**(n-1) capped at MAX, stretched by a random 0–50 %
# so that processes that failed together do not retry together.
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
BACKOFF_JITTER = 0.5
# A Retry-After is obeyed plus up to this much jitter; one longer than the cap is not
# waited out inside a call (the caller decides), the error is raised instead.
RETRY_AFTER_JITTER_SECONDS = 0.25
RETRY_AFTER_MAX_SECONDS = 120.0
MAX_MESSAGE_CHARS = 500
USER_AGENT = "MagFlow/1.0 (+eMAG Marketplace integration)"

_IP_NOT_ALLOWED_RE = re.compile(r"invalid vendor ip", re.IGNORECASE)
# eMAG sometimes answers `isError: true` for its own trouble ("Please try again later"):
# that is an outage to retry, not a refusal of what was sent.
_TRANSIENT_RE = re.compile(
    r"try again|retry|temporar|internal error|unavailable|timed? ?out|overload|maintenance", re.IGNORECASE
)
# A product save whose only complaints are about documentation (images, characteristics,
# descriptions) is still saved by eMAG: those messages are warnings, not a refusal.
_DOCUMENTATION_RE = re.compile(
    r"documentation|\bimages?\b|characteristic|translation|is not a valid EAN"
    r"|\binvalid (name|brand|description|category_id|vendor_category_id|warranty|url)\b",
    re.IGNORECASE,
)


# --- Errors ----------------------------------------------------------------------------------------------------


class EmagError(Exception):
    """A call to eMAG failed. `permanent` errors must not be retried as they are."""

    permanent = False
    outcome = "error"

    def __init__(
        self,
        message: str,
        *,
        messages: Iterable[str] | None = None,
        status_code: int | None = None,
        route: str = "",
        permanent: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.messages = list(messages or [])
        self.status_code = status_code
        self.route = route
        if permanent is not None:
            self.permanent = permanent

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, route={self.route!r}, status_code={self.status_code!r}, "
            f"permanent={self.permanent!r})"
        )


class EmagAuthError(EmagError):
    """eMAG refused the credentials (wrong user or password, or no API rights)."""

    permanent = True
    outcome = "auth_error"


class EmagIPNotAllowed(EmagError):
    """This machine's IP address is not on the account's whitelist."""

    permanent = True
    outcome = "ip_not_allowed"


class EmagRejected(EmagError):
    """eMAG understood the request and refused it (a business or validation error).

    For a batched save, `saved_before` tells how many items earlier batches saved.
    """

    permanent = True
    outcome = "rejected"
    saved_before: int | None = None


class EmagConfigurationError(EmagError):
    """MagFlow cannot make the call as configured (such as a stored password no key decrypts)."""

    permanent = True
    outcome = "config_error"


class EmagRateLimited(EmagError):
    """eMAG answered 429."""

    outcome = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class EmagUnavailable(EmagError):
    """eMAG answered 5xx, or could not be reached at all."""

    outcome = "unavailable"


class EmagTimeout(EmagError):
    """eMAG did not connect or answer within the timeouts."""

    outcome = "timeout"


class EmagBadResponse(EmagError):
    """The answer is not what eMAG sends: not JSON, truncated, too big, a redirect, or the wrong shape."""

    outcome = "bad_response"


# --- Results ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """What `…/count` answers (eMAG sends the numbers as strings)."""

    items: int
    pages: int
    per_page: int


OfferCount = Count
OrderCount = Count


@dataclass(frozen=True)
class SaveResult:
    """The outcome of a batched save: how many items eMAG accepted, and any warnings it gave."""

    saved: int
    batches: int
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    message: str
    kind: str = "ok"
    status_code: int | None = None
    duration_ms: float | None = None


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    wait_seconds: float = 0.0
    backoff_seconds: float = 0.0


# --- The client ------------------------------------------------------------------------------------------------


class _BasicAuth(requests.auth.AuthBase):
    """HTTP Basic credentials that never show themselves.

    Debug pages and error e-mails print every frame's local variables; a plain
    (username, password) tuple there would put the password on the page.
    """

    __slots__ = ("_header",)

    def __init__(self, username: str, password: str) -> None:
        self._header = requests.auth._basic_auth_str(username, password)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return "<BasicAuth: hidden>"


class EmagClient:
    """Talks to eMAG for one seller account. Not thread-safe: one client per thread."""

    def __init__(
        self,
        account: Any,
        run: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_tries: int | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.account = account
        self.run = run
        self.sleep = sleep
        self.clock = clock
        self.max_tries = max(1, max_tries if max_tries is not None else settings.EMAG_MAX_TRIES)
        self.connect_timeout = float(settings.EMAG_CONNECT_TIMEOUT)
        self.read_timeout = float(settings.EMAG_READ_TIMEOUT)
        self.max_response_bytes = int(settings.EMAG_MAX_RESPONSE_BYTES)
        self.base_url = account.api_base_url.rstrip("/")
        self.stats = ClientStats()
        self._session = session or requests.Session()
        # Proxies from the environment stay honoured: a fixed-IP egress proxy is a common way to
        # satisfy eMAG's IP whitelist. (.netrc cannot override us: auth is always passed explicitly.)
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})

    def __repr__(self) -> str:
        return f"<EmagClient account={getattr(self.account, 'name', '?')!r} base_url={self.base_url!r}>"

    def close(self) -> None:
        self._session.close()

    def twin(self) -> "EmagClient":
        """A client like this one (same account, run, settings and class) for another thread.

        It has its own connection pool and figures (`stats`); the account's rate limiter is
        the same one, as for any client of the account.
        """
        other = copy.copy(self)
        other.stats = ClientStats()
        other._session = requests.Session()
        other._session.headers.update(self._session.headers)
        other._session.proxies.update(self._session.proxies)
        return other

    def __enter__(self) -> "EmagClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Offers ---

    def read_offers(self, page: int = 1, per_page: int = MAX_PAGE_SIZE, **filters: Any) -> list[dict]:
        """One page of offers, raw as eMAG sends them (prices as Decimal). An empty list past the end."""
        return self._read_page("product_offer/read", page, per_page, filters)

    def count_offers(self, **filters: Any) -> Count:
        return self._count("product_offer/count", filters)

    def save_offers(self, items: list[dict]) -> SaveResult:
        """`product_offer/save` in batches of 50; documentation-only complaints come back as warnings."""
        return self._save("product_offer/save", items, documentation_warnings=True)

    def save_light_offers(self, items: list[dict]) -> SaveResult:
        """`offer/save` (the light offer API: existing offers, only the fields that change) in batches of 50."""
        if self._is_fbe() and any("stock" in item for item in items):
            raise ValueError("FBE stock is kept by eMAG's warehouse: do not send stock for an FBE account.")
        return self._save("offer/save", items)

    def update_offer_stock(self, offer_id: int, stock: int) -> None:
        """`PATCH offer_stock/{id}`: set the stock of one offer (eMAG answers 204)."""
        if self._is_fbe():
            raise ValueError("FBE stock is kept by eMAG's warehouse: do not send stock for an FBE account.")
        offer_id = _positive_id(offer_id, "offer id")
        if isinstance(stock, bool) or not isinstance(stock, int) or not 0 <= stock <= 65535:
            raise ValueError(f"stock must be an integer from 0 to 65535, got {stock!r}")
        self._call("PATCH", f"offer_stock/{offer_id}", {"stock": stock}, route="offer_stock", envelope=False)

    # --- Reference data ---

    def read_vat_rates(self) -> list[dict]:
        return self._results_list("vat/read", self._call("POST", "vat/read", {}))

    def read_handling_times(self) -> list[Any]:
        return self._results_list("handling_time/read", self._call("POST", "handling_time/read", {}))

    def read_categories(self, **filters: Any) -> list[dict]:
        return self._results_list("category/read", self._call("POST", "category/read", filters))

    # --- Orders ---

    def read_orders(self, page: int = 1, per_page: int = MAX_PAGE_SIZE, **filters: Any) -> list[dict]:
        return self._read_page("order/read", page, per_page, filters)

    def count_orders(self, **filters: Any) -> Count:
        return self._count("order/count", filters)

    def acknowledge_order(self, order_id: int) -> None:
        """`POST order/acknowledge/{id}`: moves a new order (1) to in progress (2)."""
        order_id = _positive_id(order_id, "order id")
        self._call("POST", f"order/acknowledge/{order_id}", {}, route="order/acknowledge")

    def save_order(self, order: dict) -> None:
        """`order/save` takes the whole order as read, changed where needed."""
        if not isinstance(order, dict) or "id" not in order:
            raise ValueError("save_order needs the whole order, as order/read returned it, with its id")
        self._call("POST", "order/save", {"data": [order]})

    def save_order_attachments(self, items: list[dict]) -> SaveResult:
        return self._save("order/attachments/save", items)

    # --- Connection test ---

    def test_connection(self) -> ConnectionTest:
        """One cheap call (vat/read, one try) and a plain-words verdict; recorded on the account."""
        host = urlsplit(self.base_url).netloc
        started = self.clock()
        saved_tries, self.max_tries = self.max_tries, 1
        try:
            self._call("POST", "vat/read", {})
        except EmagAuthError as exc:
            result = ConnectionTest(
                False,
                f"Credentials refused by eMAG (HTTP {exc.status_code}): check the API username and password, "
                "and that this user has API rights.",
                kind=exc.outcome,
                status_code=exc.status_code,
            )
        except EmagIPNotAllowed as exc:
            result = ConnectionTest(
                False,
                f"Credentials accepted, but eMAG refuses calls from this machine's IP address ({exc.message}): "
                "add it to the account's API IP whitelist in the eMAG Marketplace.",
                kind=exc.outcome,
                status_code=exc.status_code,
            )
        except (EmagTimeout, EmagUnavailable) as exc:
            result = ConnectionTest(
                False,
                f"Network: eMAG at {host} could not be reached or is unavailable ({exc.message}).",
                kind=exc.outcome,
                status_code=exc.status_code,
            )
        except EmagConfigurationError as exc:
            result = ConnectionTest(False, f"Not sent: {exc.message}", kind=exc.outcome, status_code=exc.status_code)
        except EmagRateLimited as exc:
            result = ConnectionTest(
                False,
                "eMAG is rate limiting this account right now (HTTP 429); credentials could not be checked.",
                kind=exc.outcome,
                status_code=exc.status_code,
            )
        except EmagError as exc:
            result = ConnectionTest(
                False, f"eMAG answered unexpectedly: {exc.message}", kind=exc.outcome, status_code=exc.status_code
            )
        else:
            elapsed = (self.clock() - started) * 1000
            result = ConnectionTest(
                True,
                f"OK: credentials accepted, IP address allowed, eMAG at {host} answered in {elapsed:.0f} ms.",
                status_code=200,
                duration_ms=round(elapsed, 1),
            )
        finally:
            self.max_tries = saved_tries
        self._record_test(result)
        return result

    # --- Internals: route helpers ---

    def _is_fbe(self) -> bool:
        return getattr(self.account, "kind", "") == "fbe"

    def _read_page(self, route: str, page: int, per_page: int, filters: dict[str, Any]) -> list[dict]:
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise ValueError(f"page must be an integer from 1, got {page!r}")
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_PAGE_SIZE:
            raise ValueError(f"per_page must be an integer from 1 to {MAX_PAGE_SIZE}, got {per_page!r}")
        body = {**filters, "currentPage": page, "itemsPerPage": per_page}
        return self._results_list(route, self._call("POST", route, body))

    def _count(self, route: str, filters: dict[str, Any]) -> Count:
        results = self._call("POST", route, dict(filters))["results"]
        try:
            results = to_object(results)
            return Count(
                items=to_int(results["noOfItems"]),
                pages=to_int(results["noOfPages"]),
                per_page=to_int(results.get("itemsPerPage", MAX_PAGE_SIZE)),
            )
        except (KeyError, ValueError) as exc:
            raise EmagBadResponse(f"{route} answered an unexpected count: {exc}", route=route, status_code=200)

    def _results_list(self, route: str, envelope: dict) -> list:
        results = envelope.get("results")
        if results is None:
            return []
        # PHP turns an empty list into `{}` sometimes, as it turns an empty object into `[]`.
        if isinstance(results, dict) and not results:
            return []
        if not isinstance(results, list):
            raise EmagBadResponse(
                f"{route} answered results of type {type(results).__name__}, expected a list",
                route=route,
                status_code=200,
            )
        return results

    def _save(self, route: str, items: list[dict], documentation_warnings: bool = False) -> SaveResult:
        items = list(items)
        if not all(isinstance(item, dict) for item in items):
            raise ValueError(f"{route} takes a list of objects")
        warnings: list[str] = []
        saved = 0
        batches = 0
        for batch in _batches(items, SAVE_BATCH_SIZE):
            try:
                self._call("POST", route, {"data": batch})
            except EmagRejected as exc:
                if documentation_warnings and exc.messages and all(_DOCUMENTATION_RE.search(m) for m in exc.messages):
                    warnings.extend(exc.messages)
                else:
                    # The batches before this one are saved; say so, so nothing is sent twice blindly.
                    exc.saved_before = saved
                    raise
            saved += len(batch)
            batches += 1
        return SaveResult(saved=saved, batches=batches, warnings=warnings)

    # --- Internals: one call, with retries ---

    def _call(
        self, method: str, path: str, body: dict | None, *, route: str | None = None, envelope: bool = True
    ) -> dict:
        """Send one logical call, retrying transient failures; return the decoded envelope ({} for 204)."""
        route = route or path
        bucket = ratelimit.bucket_for_route(route)
        # Both before any request: a body that cannot be encoded or a password that cannot be
        # decrypted is a mistake here, not something eMAG should be asked about.
        data = _dump_json(body) if body is not None else None
        auth = self._credentials(route)
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1:
                self.stats.retries += 1
            try:
                return self._attempt(
                    method, path, data, auth, route=route, bucket=bucket, attempt=attempt, envelope=envelope
                )
            except EmagError as exc:
                if exc.permanent or attempt >= self.max_tries:
                    raise
                delay = self._delay_before_retry(exc, attempt)
                if delay is None:
                    raise
                logger.warning(
                    "eMAG %s %s: %s (attempt %d of %d), retrying in %.2f s",
                    self._account_name(),
                    route,
                    exc.outcome,
                    attempt,
                    self.max_tries,
                    delay,
                )
                self.stats.backoff_seconds += delay
                self.sleep(delay)

    def _delay_before_retry(self, exc: EmagError, attempt: int) -> float | None:
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            if retry_after > RETRY_AFTER_MAX_SECONDS:
                return None
            return retry_after + random.uniform(0, RETRY_AFTER_JITTER_SECONDS)
        base = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        return base * (1 + random.uniform(0, BACKOFF_JITTER))

    def _credentials(self, route: str) -> "_BasicAuth":
        try:
            return _BasicAuth(self.account.username, self.account.get_password())
        except crypto.DecryptionError:
            raise EmagConfigurationError(
                f"{route}: the stored password of account {self._account_name()} cannot be decrypted with the "
                "configured MAGFLOW_ENCRYPTION_KEY; add the key it was encrypted with, or set the password again",
                route=route,
                permanent=True,
            ) from None

    def _attempt(
        self,
        method: str,
        path: str,
        data: bytes | None,
        auth: "_BasicAuth",
        *,
        route: str,
        bucket: str,
        attempt: int,
        envelope: bool,
    ) -> dict:
        try:
            waited = ratelimit.acquire(self.account.pk, bucket)
        except ratelimit.RateLimiterUnavailable as exc:
            # Nothing was sent; worth another try once the database or Redis is back.
            raise EmagUnavailable(f"{route}: not sent, {exc}", route=route) from None
        self.stats.wait_seconds += waited
        self.stats.requests += 1
        started = self.clock()
        status_code: int | None = None
        outcome = "ok"
        try:
            status_code, headers, raw = self._send(method, path, data, auth, route=route)
            result = self._interpret(status_code, headers, raw, route=route, envelope=envelope)
        except EmagError as exc:
            outcome = exc.outcome
            status_code = exc.status_code
            if isinstance(exc, EmagRateLimited):
                self.stats.throttled += 1
                try:
                    ratelimit.record_throttled(self.account.pk, bucket)
                except ratelimit.RateLimiterUnavailable:
                    logger.warning("could not tell the rate limiter about a 429 for %s", self._account_name())
            if isinstance(exc, EmagAuthError):
                self._flag_auth_failure()
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            duration_ms = (self.clock() - started) * 1000
            self._record_call(route, bucket, status_code, outcome, duration_ms, attempt, waited)
            log = logger.info if outcome == "ok" else logger.warning
            log(
                "eMAG %s %s %s -> %s %s in %.0f ms (attempt %d)",
                self._account_name(),
                method,
                route,
                status_code if status_code is not None else "-",
                outcome,
                duration_ms,
                attempt,
            )
        return result

    def _send(
        self, method: str, path: str, data: bytes | None, auth: "_BasicAuth", *, route: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        url = f"{self.base_url}/{path}"
        try:
            response = self._session.request(
                method,
                url,
                data=data,
                headers={"Content-Type": "application/json"} if data is not None else None,
                auth=auth,
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout as exc:
            raise EmagTimeout(f"{route}: no answer in time ({_describe_transport_error(exc)})", route=route) from None
        except requests.RequestException as exc:
            raise EmagUnavailable(
                f"{route}: cannot reach eMAG ({_describe_transport_error(exc)})", route=route
            ) from None
        try:
            raw = self._read_body(response, route)
            # The headers stay case-insensitive: a proxy may well send `retry-after`.
            return response.status_code, response.headers, raw
        finally:
            response.close()

    def _read_body(self, response: requests.Response, route: str) -> bytes:
        limit = self.max_response_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise EmagBadResponse(
                f"{route}: answer of {int(declared)} bytes exceeds the {limit}-byte limit",
                route=route,
                status_code=response.status_code,
                permanent=True,
            )
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
                if size > limit:
                    # Counting decoded bytes also stops a compressed answer that expands without end.
                    raise EmagBadResponse(
                        f"{route}: answer exceeds the {limit}-byte limit",
                        route=route,
                        status_code=response.status_code,
                        permanent=True,
                    )
                chunks.append(chunk)
        except requests.Timeout as exc:
            raise EmagTimeout(
                f"{route}: answer stalled ({_describe_transport_error(exc)})", route=route, status_code=None
            ) from None
        except requests.RequestException as exc:
            # requests reports a read timeout met while streaming the body as a ConnectionError.
            if isinstance(exc.args[0] if exc.args else None, urllib3.exceptions.ReadTimeoutError):
                raise EmagTimeout(
                    f"{route}: answer stalled ({_describe_transport_error(exc)})", route=route, status_code=None
                ) from None
            # The connection broke mid-body (a truncated answer): worth another try.
            raise EmagBadResponse(
                f"{route}: answer cut short ({_describe_transport_error(exc)})",
                route=route,
                status_code=response.status_code,
            ) from None
        return b"".join(chunks)

    def _interpret(self, status: int, headers: Mapping[str, str], raw: bytes, *, route: str, envelope: bool) -> dict:
        if 300 <= status < 400:
            location = headers.get("Location", "")
            target = urlsplit(location).netloc or location[:100]
            raise EmagBadResponse(
                f"{route}: eMAG answered a redirect ({status}) to {target!r}, which is not followed; "
                "check the account's base URL",
                route=route,
                status_code=status,
                permanent=True,
            )
        if status == 429:
            raise EmagRateLimited(
                f"{route}: rate limited by eMAG (429)",
                retry_after=_parse_retry_after(headers.get("Retry-After")),
                messages=_messages_of(_loads_or_none(raw)),
                route=route,
                status_code=status,
            )
        if status >= 500:
            raise EmagUnavailable(f"{route}: eMAG answered {status}", route=route, status_code=status)
        if status == 204:
            return {}

        payload = _loads_or_none(raw)
        messages = _messages_of(payload)
        if status in (401, 403):
            if any(_IP_NOT_ALLOWED_RE.search(m) for m in messages):
                raise EmagIPNotAllowed(_join(route, messages), messages=messages, route=route, status_code=status)
            raise EmagAuthError(
                f"{route}: credentials refused ({status})" + (f": {'; '.join(messages)}" if messages else ""),
                messages=messages,
                route=route,
                status_code=status,
            )
        if 400 <= status < 500:
            raise EmagRejected(
                _join(route, messages or [f"HTTP {status}"]), messages=messages, route=route, status_code=status
            )
        if status != 200 and status != 201:
            raise EmagBadResponse(f"{route}: unexpected HTTP status {status}", route=route, status_code=status)

        if payload is None:
            raise EmagBadResponse(
                f"{route}: answer is not JSON ({len(raw)} bytes)" if raw else f"{route}: empty answer",
                route=route,
                status_code=status,
            )
        if not isinstance(payload, dict):
            raise EmagBadResponse(
                f"{route}: answer is a JSON {type(payload).__name__}, not an envelope", route=route, status_code=status
            )
        if not envelope and "isError" not in payload:
            return payload
        is_error = payload.get("isError")
        if is_error is False:
            return payload
        if is_error is True:
            if any(_IP_NOT_ALLOWED_RE.search(m) for m in messages):
                raise EmagIPNotAllowed(_join(route, messages), messages=messages, route=route, status_code=status)
            if messages and all(_TRANSIENT_RE.search(m) for m in messages):
                raise EmagUnavailable(_join(route, messages), messages=messages, route=route, status_code=status)
            raise EmagRejected(
                _join(route, messages or ["isError without a message"]),
                messages=messages,
                route=route,
                status_code=status,
            )
        # eMAG's own rule: a response without `isError: false` is a failed call.
        raise EmagBadResponse(
            f"{route}: answer lacks isError: false (isError={is_error!r})",
            messages=messages,
            route=route,
            status_code=status,
        )

    # --- Internals: bookkeeping ---

    def _account_name(self) -> str:
        return getattr(self.account, "name", "?")

    def _record_call(
        self,
        route: str,
        bucket: str,
        status_code: int | None,
        outcome: str,
        duration_ms: float,
        attempt: int,
        waited: float,
    ) -> None:
        from emag.models import ApiCall

        # The sync calls the client outside its page transactions, so this row commits at
        # once (autocommit) and monitoring sees it even if the caller later rolls back.
        row = ApiCall(
            account_id=self.account.pk,
            run_id=getattr(self.run, "pk", None),
            route=route[:64],
            bucket=bucket,
            status_code=status_code,
            outcome=outcome,
            duration_ms=round(duration_ms, 3),
            attempt=attempt,
            is_throttled=outcome == EmagRateLimited.outcome,
            wait_ms=round(waited * 1000, 3),
        )
        try:
            if connection.vendor == "postgresql" and not connection.in_atomic_block:
                # A log row need not wait for the disk: should the database server crash, the last
                # fraction of a second of calls may be missing from monitoring, nothing else. The
                # wait was 1-6 ms per call, on the sync's reading path.
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL synchronous_commit TO OFF")
                    row.save(force_insert=True)
            else:
                row.save(force_insert=True)
        except DatabaseError:
            # Bookkeeping must never turn a good eMAG answer into a failure.
            logger.exception("could not record an ApiCall for %s %s", self._account_name(), route)

    def _flag_auth_failure(self) -> None:
        from emag.models import SellerAccount

        now = timezone.now()
        self.account.auth_failed_at = now
        try:
            SellerAccount.objects.filter(pk=self.account.pk).update(auth_failed_at=now)
        except DatabaseError:
            logger.exception("could not flag the credentials of account %s as refused", self._account_name())

    def _record_test(self, result: ConnectionTest) -> None:
        from emag.models import SellerAccount

        now = timezone.now()
        fields = {
            "last_test_at": now,
            "last_test_ok": result.ok,
            "last_test_message": result.message[:500],
        }
        if result.ok:
            fields["auth_failed_at"] = None
        for name, value in fields.items():
            setattr(self.account, name, value)
        SellerAccount.objects.filter(pk=self.account.pk).update(**fields)


# --- Helpers ---------------------------------------------------------------------------------------------------


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _positive_id(value: Any, what: str) -> int:
    try:
        number = to_int(value)
    except ValueError:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    if number < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return number


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # A float's repr is the shortest text that round-trips, so a price of up to 15
        # significant digits ("84.0336") is written with exactly its own digits.
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dump_json(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=_json_default).encode("utf-8")


def _loads_or_none(raw: bytes) -> Any:
    """The answer's JSON with every non-integer number as a Decimal (no price goes through a float); None if not JSON.

    orjson reads it first (a page of offers 3 to 4 times faster than the standard library). It
    knows no Decimals and reads an integer beyond 64 bits as a float, so an answer in which it
    found a float, or which it refused (NaN, a lone surrogate: the standard library is more
    lenient), is read again by the standard library, exactly as before. eMAG sends prices as
    strings, so its pages take the fast path.
    """
    if not raw:
        return None
    try:
        payload = orjson.loads(raw)
        if not _holds_float(payload):
            return payload
    except (orjson.JSONDecodeError, RecursionError):
        pass
    try:
        return json.loads(raw.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError):
        return None


def _holds_float(value: Any) -> bool:
    """Whether a decoded JSON value holds a float anywhere (about a tenth of decoding it again)."""
    kind = type(value)
    if kind is float:
        return True
    if kind is dict:
        items: Iterable[Any] = value.values()
    elif kind is list:
        items = value
    else:
        return False
    for item in items:
        item_kind = type(item)
        if item_kind is float or ((item_kind is dict or item_kind is list) and _holds_float(item)):
            return True
    return False


def _messages_of(payload: Any) -> list[str]:
    """The human messages of an answer: the envelope's `messages` (and `errors`), or a bare `message`."""
    if not isinstance(payload, dict):
        return []
    found: list[str] = []
    for key in ("messages", "errors"):
        value = payload.get(key)
        if isinstance(value, list):
            found.extend(_message_text(item) for item in value if item not in (None, "", [], {}))
        elif isinstance(value, (str, dict)) and value:
            found.append(_message_text(value))
    if not found and isinstance(payload.get("message"), str):
        found.append(payload["message"])
    return [text[:MAX_MESSAGE_CHARS] for text in found]


def _message_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in ("message", "text", "error"):
            if isinstance(item.get(key), str):
                return item[key]
    return json.dumps(item, default=str, ensure_ascii=False)


def _join(route: str, messages: list[str]) -> str:
    return f"{route}: {'; '.join(messages)}"


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - timezone.now()).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _describe_transport_error(exc: Exception) -> str:
    """The kind of a transport failure, without the request (whose headers hold the credentials)."""
    reason = exc.args[0] if exc.args else exc
    text = str(getattr(reason, "reason", reason))
    return f"{type(exc).__name__}: {text[:200]}"
