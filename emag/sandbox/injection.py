"""Fault injection applied to requests: answers that replace the route's, spoiled records, drift."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emag.sandbox import faults as fault_rules
from emag.sandbox.catalogue import Offer, make_offer
from emag.sandbox.faults import rng_for
from emag.sandbox.wire import SandboxResponse, envelope, html_response, json_response, throttled_response

if TYPE_CHECKING:
    from emag.sandbox.handler import AccountState, Sandbox

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


def fault_response(sandbox: Sandbox, fault: str, sequence: int) -> SandboxResponse:
    """The answer a request fault gives instead of the route's."""
    rng = rng_for(sandbox.seed, "answer", sequence)
    if fault == "429":
        return throttled_response(1.0, sandbox.retry_after)
    if fault == "500":
        return html_response(500, "500 Internal Server Error")
    if fault == "502":
        return html_response(502, "502 Bad Gateway")
    if fault == "504":
        if rng.random() < 0.5:
            return SandboxResponse(504, {"Content-Type": "text/html"}, b"")
        return html_response(504, "504 Gateway Time-out")
    if fault == "hang":
        return SandboxResponse(0, {}, b"", hang=True)
    if fault == "badjson":
        body = (
            '<!DOCTYPE html><html lang="ro"><head><title>eMAG Marketplace</title></head>'
            "<body><h1>Ne pare rău, revenim imediat.</h1><p>Lucrăm la îmbunătățirea platformei.</p></body></html>"
        ).encode()
        return SandboxResponse(200, {"Content-Type": "text/html; charset=utf-8"}, body)
    return json_response(200, envelope(messages=[rng.choice(ISERROR_MESSAGES)], is_error=True))


def spoil_records(
    sandbox: Sandbox,
    state: AccountState,
    route: str,
    rows: list[dict],
    page: int,
    per_page: int,
    sequence: int,
    matching: list | None,
) -> str | None:
    rate = sandbox.fault_plan.rate("badrecord")
    if not rate or not rows:
        return None
    rng = rng_for(sandbox.seed, "badrecord", sequence)
    spoiled = False
    for position, row in enumerate(rows):
        if rng.random() >= rate:
            continue
        true_id = row["id"]
        kind = rng.choice(fault_rules.BADRECORD_KINDS)
        other = record_from_other_page(state, route, page, per_page, matching, rng) if kind == "duplicate" else None
        if kind == "duplicate" and other is None:
            kind = "missing_id"
        detail = fault_rules.spoil_record(row, kind, rng, route, other)
        if kind == "duplicate":
            rows[position] = other
        sandbox.corrupted_records.append(CorruptedRecord(sequence, state.name, route, page, true_id, kind, detail))
        spoiled = True
    return "badrecord" if spoiled else None


def record_from_other_page(
    state: AccountState, route: str, page: int, per_page: int, matching: list | None, rng: Any
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


def drift(sandbox: Sandbox, state: AccountState, route: str, sequence: int) -> DriftEvent | None:
    rng = rng_for(sandbox.seed, "drift-change", sequence)
    catalogue = state.catalogue
    if route == "order/read":
        if not catalogue.ids:
            return None
        order = state.orders.create(catalogue, sandbox.now())
        event = DriftEvent(sequence, state.name, "order", order["id"], "a new order arrived")
    else:
        kind = rng.choice(sandbox.drift_kinds)
        if kind != "add" and not catalogue.ids:
            kind = "add"
        if kind == "add":
            event = drift_add(sandbox, state, rng, sequence)
        else:
            offer = catalogue.at(rng.randrange(len(catalogue)))
            if kind == "price":
                old = offer.sale_price
                offer.sale_price = rng.randint(offer.min_sale_price, offer.max_sale_price)
                if offer.buy_button_rank == 1:
                    offer.best_offer_sale_price = offer.sale_price
                event = DriftEvent(sequence, state.name, "price", offer.id, f"sale_price {old} -> {offer.sale_price}")
            elif kind == "stock":
                old = offer.stock
                offer.stock = max(0, old + rng.choice((-5, -2, -1, 1, 3, 10)))
                offer.reserved = min(offer.reserved, offer.stock)
                event = DriftEvent(sequence, state.name, "stock", offer.id, f"stock {old} -> {offer.stock}")
            else:
                catalogue.remove(offer.id)
                event = DriftEvent(sequence, state.name, "remove", offer.id, "offer removed")
    sandbox.drift_events.append(event)
    return event


def drift_add(sandbox: Sandbox, state: AccountState, rng: Any, sequence: int) -> DriftEvent:
    product = sandbox.products.new_product()
    offer_id = state.catalogue.next_free_id() + rng.randrange(0, 3)
    state.details_seq[0] += 7
    offer: Offer = make_offer(rng, offer_id, product, is_fbe=state.is_fbe, details_id=state.details_seq[0])
    state.catalogue.add(offer)
    return DriftEvent(sequence, state.name, "add", offer_id, "offer added")


# --- introspection -----------------------------------------------------------------------------
