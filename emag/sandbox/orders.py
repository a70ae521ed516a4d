"""Orders: created in the sandbox, read, counted, acknowledged and saved through the API."""

from __future__ import annotations

import hashlib
import math
import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from emag.sandbox.catalogue import AccountCatalogue, Offer, format_price
from emag.sandbox.offers import ApiError, InvalidValue, as_int, paging, save_items
from emag.sandbox.vocabulary import VAT_RATES

BUCHAREST = ZoneInfo("Europe/Bucharest")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
FIRST_ORDER_ID = 3_115_229_985  # eMAG order ids are past 2**31
MAX_WINDOW = timedelta(days=31)
# Allowed status moves after acknowledgement (1 -> 2 happens only through order/acknowledge).
TRANSITIONS = {2: {3, 4, 0}, 3: {4, 0}, 4: {3, 0, 5}}

FIRST_NAMES = ("Ion", "Maria", "Andrei", "Elena", "Mihai", "Ioana", "Ștefan", "Alexandra", "Răzvan", "Cătălina")
LAST_NAMES = ("Popescu", "Ionescu", "Popa", "Dumitrescu", "Stoica", "Constantinescu", "Mureșan", "Țurcanu", "Bălan")
CITIES = (
    ("Sector 1", "București", "010011"),
    ("Cluj-Napoca", "Cluj", "400001"),
    ("Iași", "Iași", "700001"),
    ("Timișoara", "Timiș", "300001"),
    ("Brașov", "Brașov", "500001"),
    ("Constanța", "Constanța", "900001"),
    ("Târgu Mureș", "Mureș", "540001"),
)
STREETS = ("Str. Mihai Eminescu", "Bd. Unirii", "Str. Florilor", "Calea Victoriei", "Str. Ștefan cel Mare")


def local_time(moment: datetime) -> str:
    return moment.astimezone(BUCHAREST).strftime(TIME_FORMAT)


def parse_local_time(value: Any, name: str) -> datetime:
    try:
        return datetime.strptime(str(value), TIME_FORMAT).replace(tzinfo=BUCHAREST)
    except ValueError:
        raise ApiError(f"Invalid {name} {value!r}: expected YYYY-mm-dd HH:MM:SS.")


class OrderBook:
    """One account's orders by id; order dicts are kept exactly as order/read returns them."""

    def __init__(self, seed: int, account_index: int, order_type: int) -> None:
        self.orders: dict[int, dict] = {}
        self.order_type = order_type
        self.rng = random.Random(f"emag-sandbox:{seed}:orders:{account_index}")
        self.next_id = FIRST_ORDER_ID + account_index * 50_000_000
        self.next_line_id = 171_958_974 + account_index * 50_000_000
        self.next_customer_id = 4401 + account_index * 1_000_000

    def create(
        self,
        catalogue: AccountCatalogue,
        now: datetime,
        lines: list[tuple[int, int]] | None = None,
        status: int = 1,
        payment_mode_id: int | None = None,
        created_at: datetime | None = None,
    ) -> dict:
        rng = self.rng
        if lines is None:
            if not len(catalogue):
                raise ValueError("The account has no offers to order.")
            # Sample rather than scan: a scan would generate every offer of a large lazy catalogue.
            wanted = rng.choice((1, 1, 1, 2, 3))
            picks: dict[int, Offer] = {}
            for _ in range(200):
                offer = catalogue.at(rng.randrange(len(catalogue)))
                if offer.is_sellable and offer.estimated_stock > 0:
                    picks[offer.id] = offer
                    if len(picks) == wanted:
                        break
            if not picks:
                picks = {o.id: o for o in (catalogue.at(rng.randrange(len(catalogue))),)}
            lines = [(o.id, min(rng.choice((1, 1, 1, 2, 3)), max(1, o.estimated_stock))) for o in picks.values()]
        products = []
        for offer_id, quantity in lines:
            offer = catalogue.get(offer_id)
            if offer is None:
                raise ValueError(f"Offer {offer_id} does not exist on this account.")
            if quantity < 1:
                raise ValueError("An order line needs a quantity of at least 1.")
            products.append(
                {
                    "id": self.next_line_id,
                    "product_id": offer.id,
                    "part_number_key": offer.part_number_key,
                    "ext_part_number": offer.part_number,
                    "name": offer.content.get("name", offer.product.name),
                    "quantity": quantity,
                    "sale_price": format_price(offer.sale_price),
                    "vat": f"{VAT_RATES[offer.vat_id]:.4f}",
                    "currency": "RON",
                    "status": 1,
                }
            )
            self.next_line_id += 1
            if status == 1:
                offer.reserved = min(offer.stock, offer.reserved + quantity)
        created = created_at or now
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, county, postal = rng.choice(CITIES)
        street = f"{rng.choice(STREETS)} {rng.randrange(1, 120)}"
        self.next_customer_id += 1
        order = {
            "id": self.next_id,
            "status": status,
            "is_complete": 1,
            "type": self.order_type,
            "payment_mode_id": payment_mode_id or rng.choice((1, 1, 2, 3, 3)),
            "date": local_time(created),
            "modified": local_time(created + timedelta(seconds=2)),
            "shipping_tax": rng.choice(("15.9900", "0.0000", "19.9900")),
            "currency": "RON",
            "is_storno": False,
            "vouchers": [],
            "attachments": [],
            "cancellation_reason": None,
            "customer": {
                "id": self.next_customer_id,
                "name": f"{first} {last}",
                "email": hashlib.md5(
                    f"{first}.{last}.{self.next_customer_id}".encode(), usedforsecurity=False
                ).hexdigest()
                + "@emag.ro",
                "phone_1": f"07{rng.randrange(20000000, 99999999)}",
                "billing_name": f"{first} {last}",
                "billing_city": city,
                "billing_suburb": county,
                "billing_street": street,
                "billing_postal_code": postal,
                "shipping_contact": f"{first} {last}",
                "shipping_city": city,
                "shipping_suburb": county,
                "shipping_street": street,
                "shipping_postal_code": postal,
            },
            "products": products,
        }
        self.orders[order["id"]] = order
        self.next_id += rng.randrange(1, 40)
        return order

    def select(self, params: dict) -> list[dict]:
        filters: dict[str, frozenset] = {}
        for name in ("id", "status", "payment_mode_id", "is_complete", "type"):
            if name in params and params[name] not in (None, ""):
                raw = params[name]
                try:
                    filters[name] = frozenset(as_int(v) for v in (raw if isinstance(raw, list) else [raw]))
                except InvalidValue:
                    raise ApiError(f"Invalid value {raw!r} for filter {name}.")
        # eMAG answers seller-fulfilled orders (type 3) unless type 2 is asked for explicitly.
        filters.setdefault("type", frozenset({3}))
        windows = []
        for field, after, before in (
            ("date", "createdAfter", "createdBefore"),
            ("modified", "modifiedAfter", "modifiedBefore"),
        ):
            start = parse_local_time(params[after], after) if params.get(after) else None
            end = parse_local_time(params[before], before) if params.get(before) else None
            if start and end and end - start > MAX_WINDOW:
                raise ApiError(f"The interval between {after} and {before} must be at most one month.")
            if start or end:
                windows.append((field, start, end))
        matching = []
        for order_id in sorted(self.orders):
            order = self.orders[order_id]
            if any(order[name] not in values for name, values in filters.items()):
                continue
            ok = True
            for field, start, end in windows:
                moment = datetime.strptime(order[field], TIME_FORMAT).replace(tzinfo=BUCHAREST)
                if (start and moment < start) or (end and moment > end):
                    ok = False
                    break
            if ok:
                matching.append(order)
        return matching

    def read(self, params: dict) -> tuple[list[dict], list[dict], int, int]:
        page, per_page = paging(params)
        matching = self.select(params)
        return matching[(page - 1) * per_page : page * per_page], matching, page, per_page

    def count(self, params: dict) -> dict:
        _, per_page = paging(params)
        items = len(self.select(params))
        return {"noOfItems": str(items), "noOfPages": str(math.ceil(items / per_page)), "itemsPerPage": str(per_page)}

    def acknowledge(self, catalogue: AccountCatalogue, order_id_text: str, now: datetime) -> None:
        try:
            order_id = as_int(order_id_text)
        except InvalidValue:
            raise ApiError(f"Invalid order id {order_id_text!r}.")
        order = self.orders.get(order_id)
        if order is None:
            raise ApiError(f"Order {order_id} not found")
        if order["status"] == 0:
            raise ApiError(f"Order {order_id} is canceled and cannot be acknowledged.")
        if order["status"] != 1:
            return  # acknowledging twice is harmless, as eMAG's callback retries assume
        order["status"] = 2
        order["modified"] = local_time(now)
        for line in order["products"]:
            offer = catalogue.get(line["product_id"])
            if offer is not None:
                offer.reserved = max(0, offer.reserved - line["quantity"])
                offer.stock = max(0, offer.stock - line["quantity"])

    def save(self, payload: Any, now: datetime) -> list[str]:
        """order/save: status moves eMAG allows; FBE orders take attachments only."""
        messages = []
        for item in save_items(payload):
            try:
                order_id = as_int(item.get("id")) if isinstance(item, dict) else None
            except InvalidValue:
                order_id = None
            order = self.orders.get(order_id) if order_id is not None else None
            if order is None:
                messages.append(f"Order {item.get('id') if isinstance(item, dict) else item!r} not found")
                continue
            if order["type"] == 2:
                messages.append(f"Order {order_id}: Fulfilled by eMAG orders accept only attachments.")
                continue
            try:
                status = as_int(item.get("status", order["status"]))
            except InvalidValue:
                messages.append(f"Order {order_id}: invalid status {item.get('status')!r}.")
                continue
            if status != order["status"]:
                if status not in TRANSITIONS.get(order["status"], set()):
                    messages.append(f"Order {order_id}: cannot move from status {order['status']} to {status}.")
                    continue
                placed = datetime.strptime(order["modified"], TIME_FORMAT).replace(tzinfo=BUCHAREST)
                if order["status"] == 4 and status in (3, 0) and now - placed > timedelta(hours=48):
                    messages.append(f"Order {order_id}: a finalized order can be reopened only within 48 hours.")
                    continue
                order["status"] = status
                order["modified"] = local_time(now)
            if "cancellation_reason" in item:
                order["cancellation_reason"] = item["cancellation_reason"]
        return messages

    def save_attachments(self, payload: Any) -> list[str]:
        messages = []
        for item in save_items(payload):
            if not isinstance(item, dict):
                messages.append("Every attachment must be an object.")
                continue
            try:
                order = self.orders.get(as_int(item.get("order_id")))
            except InvalidValue:
                order = None
            if order is None:
                messages.append(f"Order {item.get('order_id')} not found")
                continue
            url = str(item.get("url", ""))
            if not url.startswith(("http://", "https://")):
                messages.append(f"Order {order['id']}: the attachment url must be an http(s) URL.")
                continue
            order["attachments"].append(
                {"name": str(item.get("name", "")), "url": url, "type": _int_or(item.get("type"), 1)}
            )
        return messages


def _int_or(value: Any, default: int) -> int:
    try:
        return as_int(value)
    except InvalidValue:
        return default
