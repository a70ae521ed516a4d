"""product_offer/read, /count and /save, offer/save and offer_stock, as eMAG validates them."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from emag.sandbox.catalogue import (
    AccountCatalogue,
    Offer,
    Product,
    ProductPool,
    format_price,
    image_url,
    is_valid_ean,
    make_offer,
    price_units,
)
from emag.sandbox.vocabulary import CATEGORY_BY_ID, MAX_OFFER_ID, UNIT, VAT_RATES

MAX_PAGE_SIZE = 100
MAX_SAVE_ITEMS = 50
MAX_STOCK = 65535
MAX_HANDLING_TIME = 255
FOUR_PLACES = Decimal("0.0001")


class ApiError(Exception):
    """A request eMAG refuses as a whole: HTTP 200, isError true, these messages."""

    def __init__(self, *messages: str) -> None:
        super().__init__(*messages)
        self.messages = list(messages)


class InvalidValue(ValueError):
    pass


def as_int(value: Any) -> int:
    """An integer as eMAG accepts it: a JSON integer or a string of digits (forms send strings)."""
    if isinstance(value, bool):
        raise InvalidValue(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise InvalidValue(value)


def as_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise InvalidValue(value)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidValue(value)
    if not number.is_finite():
        raise InvalidValue(value)
    return number


def read_params(payload: Any) -> dict:
    """Filters and paging: top-level JSON keys, or the keys inside form-style `data`."""
    if payload is None or payload == []:
        return {}
    if not isinstance(payload, dict):
        raise ApiError("Invalid request: the body must be an object.")
    inner = payload.get("data")
    if isinstance(inner, dict):
        merged = {k: v for k, v in payload.items() if k != "data"}
        merged.update(inner)
        return merged
    return dict(payload)


def paging(params: dict) -> tuple[int, int]:
    try:
        page = as_int(params.get("currentPage", 1))
        per_page = as_int(params.get("itemsPerPage", MAX_PAGE_SIZE))
    except InvalidValue as exc:
        raise ApiError(f"Invalid paging value {exc.args[0]!r}: currentPage and itemsPerPage must be integers.")
    if page < 1:
        raise ApiError("currentPage must be 1 or more.")
    if per_page < 1 or per_page > MAX_PAGE_SIZE:
        raise ApiError(f"itemsPerPage must be between 1 and {MAX_PAGE_SIZE}.")
    return page, per_page


_INT_FILTERS = ("id", "status", "validation_status", "offer_validation_status", "general_stock", "estimated_stock")
_STR_FILTERS = ("part_number", "part_number_key")


def offer_filters(params: dict) -> dict[str, frozenset]:
    """The offer filters present in the request, each as the set of accepted values."""
    filters: dict[str, frozenset] = {}
    for name in _INT_FILTERS + _STR_FILTERS:
        if name not in params or params[name] is None or params[name] == "":
            continue
        raw = params[name]
        values = raw if isinstance(raw, list) else [raw]
        try:
            if name in _INT_FILTERS:
                filters[name] = frozenset(as_int(v) for v in values)
            else:
                if any(isinstance(v, (dict, list)) for v in values):
                    raise InvalidValue(raw)
                filters[name] = frozenset(str(v) for v in values)
        except InvalidValue:
            raise ApiError(f"Invalid value {raw!r} for filter {name}.")
    return filters


def _offer_value(offer: Offer, name: str) -> Any:
    if name == "id":
        return offer.id
    if name == "status":
        return offer.status
    if name == "validation_status":
        return offer.validation_status
    if name == "offer_validation_status":
        return offer.offer_validation_status
    if name == "general_stock":
        return offer.general_stock
    if name == "estimated_stock":
        return offer.estimated_stock
    if name == "part_number":
        return offer.part_number
    return offer.part_number_key


def select_offers(catalogue: AccountCatalogue, filters: dict[str, frozenset]) -> list[Offer]:
    """Matching offers in id order (eMAG pages in a stable order; ids are ours to pick)."""
    if "id" in filters:
        candidates = [catalogue.get(i) for i in sorted(filters["id"]) if i in catalogue]
    else:
        candidates = list(catalogue.in_order())
    rest = [(name, values) for name, values in filters.items() if name != "id"]
    if not rest:
        return candidates
    return [o for o in candidates if all(_offer_value(o, name) in values for name, values in rest)]


def read_offers(catalogue: AccountCatalogue, params: dict) -> tuple[list[Offer], list[Offer] | None, int, int]:
    """(the page, every matching offer or None when unfiltered, page, per_page)."""
    page, per_page = paging(params)
    filters = offer_filters(params)
    if not filters:
        return catalogue.slice((page - 1) * per_page, page * per_page), None, page, per_page
    matching = select_offers(catalogue, filters)
    return matching[(page - 1) * per_page : page * per_page], matching, page, per_page


def count_offers(catalogue: AccountCatalogue, params: dict) -> dict:
    _, per_page = paging(params)
    filters = offer_filters(params)
    items = len(catalogue) if not filters else len(select_offers(catalogue, filters))
    return {"noOfItems": str(items), "noOfPages": str(math.ceil(items / per_page)), "itemsPerPage": str(per_page)}


# --- saves -----------------------------------------------------------------------------------------


@dataclass
class SaveOutcome:
    """Per request: messages for isError, and whether anything was refused outright."""

    messages: list[str] = field(default_factory=list)
    saved_ids: list[int] = field(default_factory=list)

    @property
    def is_error(self) -> bool:
        return bool(self.messages)


class ItemRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def save_items(payload: Any) -> list:
    """The `data` list of a save (JSON or form); a bare list is accepted too."""
    items = payload.get("data") if isinstance(payload, dict) else payload
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise ApiError("Invalid request: no data to save.")
    if len(items) > MAX_SAVE_ITEMS:
        raise ApiError(f"Maximum {MAX_SAVE_ITEMS} items per request allowed, {len(items)} sent.")
    return items


def _item_id(item: Any, position: int) -> int:
    if not isinstance(item, dict):
        raise ItemRefused(f"Item {position} is not an object.")
    if "id" not in item:
        raise ItemRefused(f"Item {position}: the id field is mandatory.")
    try:
        offer_id = as_int(item["id"])
    except InvalidValue:
        raise ItemRefused(f"Item {position}: invalid id {item['id']!r}.")
    if not 1 <= offer_id <= MAX_OFFER_ID:
        raise ItemRefused(f"Invalid id {offer_id}: product ids lie between 1 and {MAX_OFFER_ID}.")
    return offer_id


def _price(item: dict, key: str, offer_id: int) -> int:
    try:
        value = as_decimal(item[key])
    except InvalidValue:
        raise ItemRefused(f"Offer {offer_id}: {key} {item[key]!r} is not a number.")
    if value != value.quantize(FOUR_PLACES):
        raise ItemRefused(f"Offer {offer_id}: {key} {item[key]} has more than 4 decimals.")
    if value <= 0:
        raise ItemRefused(f"Offer {offer_id}: {key} must be greater than 0.")
    return price_units(value)


def _warehouse_values(item: dict, key: str, offer_id: int, maximum: int) -> tuple[int, int]:
    """(warehouse_id, value) from `[{"warehouse_id": 1, "value": 7}]`; several warehouses add up."""
    raw = item[key]
    entries = raw if isinstance(raw, list) else None
    if not entries or not all(isinstance(e, dict) and "value" in e for e in entries):
        raise ItemRefused(f'Offer {offer_id}: {key} must be a list like [{{"warehouse_id": 1, "value": 3}}].')
    total = 0
    warehouse = 1
    for entry in entries:
        try:
            value = as_int(entry["value"])
            warehouse = as_int(entry.get("warehouse_id", 1))
        except InvalidValue:
            raise ItemRefused(f"Offer {offer_id}: {key} value {entry.get('value')!r} is not an integer.")
        if not 0 <= value <= maximum:
            raise ItemRefused(f"Offer {offer_id}: {key} value {value} must lie between 0 and {maximum}.")
        total += value
    if key == "stock" and total > MAX_STOCK:
        raise ItemRefused(f"Offer {offer_id}: stock value {total} must lie between 0 and {MAX_STOCK}.")
    return warehouse, total


def _offer_changes(item: dict, offer_id: int, offer: Offer | None, *, is_fbe: bool) -> dict:
    """Validated offer fields of an item (prices in units); raises ItemRefused."""
    changes: dict[str, Any] = {}
    for key in ("sale_price", "min_sale_price", "max_sale_price"):
        if key in item and item[key] is not None:
            changes[key] = _price(item, key, offer_id)
    if "recommended_price" in item:
        changes["recommended_price"] = (
            None if item["recommended_price"] in (None, "") else _price(item, "recommended_price", offer_id)
        )
    if "status" in item:
        try:
            status = as_int(item["status"])
        except InvalidValue:
            status = -1
        if status not in (0, 1, 2):
            raise ItemRefused(f"Offer {offer_id}: status must be 0, 1 or 2.")
        changes["status"] = status
    if "vat_id" in item:
        try:
            vat_id = as_int(item["vat_id"])
        except InvalidValue:
            vat_id = -1
        if vat_id not in VAT_RATES:
            raise ItemRefused(f"Offer {offer_id}: invalid vat_id {item['vat_id']!r}.")
        changes["vat_id"] = vat_id
    if "stock" in item:
        if is_fbe:
            raise ItemRefused(f"Offer {offer_id}: the stock of a Fulfilled by eMAG offer is managed by eMAG.")
        changes["warehouse_id"], changes["stock"] = _warehouse_values(item, "stock", offer_id, MAX_STOCK)
    if "handling_time" in item:
        _, changes["handling_time"] = _warehouse_values(item, "handling_time", offer_id, MAX_HANDLING_TIME)
    sale = changes.get("sale_price", offer.sale_price if offer else None)
    low = changes.get("min_sale_price", offer.min_sale_price if offer else None)
    high = changes.get("max_sale_price", offer.max_sale_price if offer else None)
    if low is not None and high is not None and low > high:
        raise ItemRefused(
            f"Offer {offer_id}: min_sale_price {format_price(low)} is above max_sale_price {format_price(high)}."
        )
    if sale is not None and low is not None and high is not None and not low <= sale <= high:
        raise ItemRefused(
            f"Offer {offer_id}: the sale price {format_price(sale)} must lie between the minimum sale price "
            f"{format_price(low)} and the maximum sale price {format_price(high)}."
        )
    return changes


def _apply_offer_changes(offer: Offer, changes: dict) -> None:
    for key, value in changes.items():
        setattr(offer, key, value)
    offer.reserved = min(offer.reserved, offer.stock)
    if "sale_price" in changes or "min_sale_price" in changes or "max_sale_price" in changes:
        # A valid price save clears an "invalid price" offer validation, as eMAG re-checks on save.
        offer.offer_validation_status = 1
        if offer.buy_button_rank == 1:
            offer.best_offer_sale_price = offer.sale_price


def save_light_offers(catalogue: AccountCatalogue, payload: Any, *, is_fbe: bool) -> SaveOutcome:
    """offer/save: updates existing offers only; each item is applied or refused on its own."""
    outcome = SaveOutcome()
    for position, item in enumerate(save_items(payload)):
        try:
            offer_id = _item_id(item, position)
            offer = catalogue.get(offer_id)
            if offer is None:
                raise ItemRefused(f"Offer {offer_id} not found")
            changes = _offer_changes(item, offer_id, offer, is_fbe=is_fbe)
        except ItemRefused as refused:
            outcome.messages.append(refused.message)
            continue
        _apply_offer_changes(offer, changes)
        outcome.saved_ids.append(offer_id)
    return outcome


_UPDATE_REQUIRED = ("status", "sale_price", "vat_id", "handling_time", "stock")
_CONTENT_KEYS = (
    "name",
    "brand",
    "description",
    "url",
    "warranty",
    "images",
    "characteristics",
    "category_id",
    "vendor_category_id",
    "attachments",
)


def _documentation_problems(item: dict, offer_id: int) -> tuple[dict, list[str]]:
    """Content changes that pass, and documentation messages (the offer is saved regardless)."""
    content: dict[str, Any] = {}
    problems: list[str] = []
    for key in _CONTENT_KEYS:
        if key not in item:
            continue
        value = item[key]
        if key in ("name", "brand") and (not isinstance(value, str) or not 1 <= len(value) <= 255):
            problems.append(f"Invalid {key} for product id: {offer_id}; 1 to 255 characters required.")
        elif key == "images" and not (
            isinstance(value, list)
            and all(isinstance(i, dict) and str(i.get("url", "")).startswith(("http://", "https://")) for i in value)
        ):
            problems.append(f"Invalid images for product id: {offer_id}; every image needs an http(s) url.")
        elif key == "characteristics" and not (
            isinstance(value, list) and all(isinstance(c, dict) and "id" in c and "value" in c for c in value)
        ):
            problems.append(f"Invalid characteristics for product id: {offer_id}.")
        elif key == "category_id" and _int_or_none(value) not in CATEGORY_BY_ID:
            problems.append(f"Invalid category_id {value!r} for product id: {offer_id}.")
        elif key == "warranty" and (_int_or_none(value) is None or not 0 <= _int_or_none(value) <= 240):
            problems.append(f"Invalid warranty {value!r} for product id: {offer_id}.")
        else:
            content[key] = _int_or_none(value) if key in ("category_id", "warranty", "vendor_category_id") else value
    if "ean" in item:
        eans = item["ean"] if isinstance(item["ean"], list) else [item["ean"]]
        bad = [str(e) for e in eans if not (str(e).isdigit() and 6 <= len(str(e)) <= 14 and is_valid_ean(str(e)))]
        if bad:
            problems.extend(f"{e} is not a valid EAN. - Product id: {offer_id}" for e in bad)
        else:
            content["ean"] = [str(e) for e in eans]
    return content, problems


def _int_or_none(value: Any) -> int | None:
    try:
        return as_int(value)
    except InvalidValue:
        return None


def save_products(
    catalogue: AccountCatalogue,
    payload: Any,
    *,
    is_fbe: bool,
    pool: ProductPool,
    new_offer_rng: Callable[[int], random.Random],
    details_seq: list[int],
) -> SaveOutcome:
    """product_offer/save: create or update; documentation-only problems still save the offer."""
    outcome = SaveOutcome()
    for position, item in enumerate(save_items(payload)):
        try:
            offer_id = _item_id(item, position)
            offer = catalogue.get(offer_id)
            required = [k for k in _UPDATE_REQUIRED if not (is_fbe and k == "stock")]
            if offer is None:
                required += ["min_sale_price", "max_sale_price", "part_number"]
            missing = [k for k in required if item.get(k) in (None, "", [])]
            if missing:
                raise ItemRefused(f"Offer {offer_id}: missing mandatory field(s) {', '.join(missing)}.")
            changes = _offer_changes(item, offer_id, offer, is_fbe=is_fbe)
            part_number = str(item.get("part_number", offer.part_number if offer else ""))
            if not 1 <= len(part_number) <= 25:
                raise ItemRefused(f"Offer {offer_id}: part_number must have 1 to 25 characters.")
            holder = catalogue.id_for_part_number(part_number)
            if holder is not None and holder != offer_id:
                raise ItemRefused(f"You already hold a Product associated with this PN:{part_number}.")
            product = offer.product if offer else _existing_product(item, offer_id, pool)
            new_product_fields = _new_product_fields(item, offer_id, part_number) if product is None else None
            if product is not None:
                holder = catalogue.id_for_pnk(product.part_number_key)
                if holder is not None and holder != offer_id:
                    raise ItemRefused(
                        f"You already hold a Product associated with this PNK:{product.part_number_key} (id {holder})."
                    )
            content, problems = _documentation_problems(item, offer_id)
        except ItemRefused as refused:
            outcome.messages.append(refused.message)
            continue
        if offer is None:
            # A brand-new product waits for eMAG's documentation check; an attached one has its docs.
            validation_status = 9 if product is not None else 1
            if product is None:
                product = pool.new_custom_product(**new_product_fields)  # type: ignore[arg-type]
            details_seq[0] += 7
            offer = make_offer(new_offer_rng(offer_id), offer_id, product, is_fbe=is_fbe, details_id=details_seq[0])
            offer.stock = offer.reserved = 0
            offer.number_of_offers, offer.buy_button_rank, offer.ownership = 1, 1, 1
            offer.validation_status = validation_status
            offer.offer_validation_status = 1
            offer.recommended_price = None
            if part_number != product.part_number:
                offer.content["part_number"] = part_number
            catalogue.add(offer)
        if offer.ownership == 2 and content:
            problems.append(f"Product id: {offer_id}: you may not change the documentation of this product.")
            content = {}
        if part_number != offer.part_number:
            catalogue.rename_part_number(offer, part_number)
        offer.content.update(content)
        _apply_offer_changes(offer, changes)
        outcome.saved_ids.append(offer_id)
        outcome.messages.extend(problems)
    return outcome


def _existing_product(item: dict, offer_id: int, pool: ProductPool) -> Product | None:
    """The eMAG product a new offer attaches to (by PNK, else by EAN), or None for a new product."""
    pnk = item.get("part_number_key")
    if pnk:
        product = pool.by_pnk(str(pnk))
        if product is None:
            raise ItemRefused(f"Offer {offer_id}: part_number_key {pnk} does not exist.")
        return product
    eans = item.get("ean") or []
    for ean in eans if isinstance(eans, list) else [eans]:
        product = pool.by_ean(str(ean))
        if product is not None:
            return product
    return None


def _new_product_fields(item: dict, offer_id: int, part_number: str) -> dict:
    missing = [k for k in ("name", "brand", "category_id") if item.get(k) in (None, "")]
    if missing:
        raise ItemRefused(f"Offer {offer_id}: a new product needs {', '.join(missing)}.")
    category = CATEGORY_BY_ID.get(_int_or_none(item["category_id"]))  # type: ignore[arg-type]
    if category is None:
        raise ItemRefused(f"Offer {offer_id}: invalid category_id {item['category_id']!r}.")
    eans = item.get("ean") or []
    eans = eans if isinstance(eans, list) else [eans]
    if category.is_ean_mandatory and not eans:
        raise ItemRefused(f"Offer {offer_id}: EAN is mandatory in category {category.id}.")
    return {
        "part_number": part_number,
        "name": str(item["name"])[:255],
        "brand": str(item["brand"])[:255],
        "category_id": category.id,
        "ean": [str(e) for e in eans if is_valid_ean(str(e))],
        "warranty": _int_or_none(item.get("warranty")) or 0,
        "characteristics": [],
        "family": None,
        "image_count": 0,
        "gross_price": 0,
    }


def set_offer_stock(catalogue: AccountCatalogue, offer_id_text: str, payload: Any, *, is_fbe: bool) -> tuple[int, Any]:
    """PATCH offer_stock/{id}: 204, or eMAG's bare `{"message": ...}` errors."""
    try:
        offer_id = as_int(offer_id_text)
    except InvalidValue:
        return 404, {"message": "This offer does not exist"}
    offer = catalogue.get(offer_id)
    if offer is None:
        return 404, {"message": "This offer does not exist"}
    if not isinstance(payload, dict) or "stock" not in payload:
        return 400, {"message": "Invalid content"}
    try:
        stock = as_int(payload["stock"])
    except InvalidValue:
        return 400, {"message": "Invalid content"}
    if not 0 <= stock <= MAX_STOCK:
        return 400, {"message": "Invalid content"}
    if is_fbe:
        return 400, {"message": "The stock of a Fulfilled by eMAG offer is managed by eMAG"}
    offer.stock = stock
    offer.reserved = min(offer.reserved, stock)
    return 204, None


def gross_price(offer: Offer) -> Decimal:
    """The sale price with VAT, for order lines."""
    return Decimal(offer.sale_price) / UNIT * (1 + VAT_RATES[offer.vat_id])


MAX_EANS_PER_LOOKUP = 100
HOTNESS = ("SUPER COLD", "COLD", "WARM", "HOT", "SUPER HOT")


def find_by_eans(catalogue: AccountCatalogue, pool: ProductPool, payload: Any) -> list[dict]:
    """documentation/find_by_eans: the eMAG products carrying these EANs, and whether we sell them."""
    eans = payload.get("eans") if isinstance(payload, dict) else None
    if isinstance(eans, str):
        eans = [eans]
    if not eans or not isinstance(eans, list):
        raise ApiError("The eans parameter is mandatory: eans[]=5941234567890.")
    if len(eans) > MAX_EANS_PER_LOOKUP:
        raise ApiError(f"At most {MAX_EANS_PER_LOOKUP} EANs per request.")
    results = []
    for ean in dict.fromkeys(str(e) for e in eans):
        product = pool.by_ean(ean)
        if product is None:
            continue
        category = CATEGORY_BY_ID.get(product.category_id)
        key = product.part_number_key
        results.append(
            {
                "eans": list(product.ean),
                "part_number_key": key,
                "product_name": product.name,
                "brand_name": product.brand,
                "category_name": category.name if category else "",
                "doc_category_id": product.category_id,
                "site_url": f"https://www.emag.ro/-/pd/{key}/",
                "allow_to_add_offer": True,
                "vendor_has_offer": catalogue.id_for_pnk(key) is not None,
                "hotness": HOTNESS[int(key, 36) % len(HOTNESS)],
                "product_image": image_url(key, 1) if product.image_count else None,
            }
        )
    return results
