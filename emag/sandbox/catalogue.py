"""The sandbox catalogue: products and per-account offers generated from a seed.

Each product and each offer is drawn from its own random stream (seed, purpose, index), so any one
of them can be generated alone, in any order, with the same result. A catalogue is only a layout
(which product sits under which id) until an offer is first touched: laying out 100,000 offers per
account takes about 0.1 s, generating every one of them about 3 s. Offers are small slotted objects
with prices in integer ten-thousandths, turned into eMAG-shaped rows only when read.
"""

from __future__ import annotations

import bisect
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from emag.sandbox.vocabulary import (
    BRANDS,
    CATEGORIES,
    CATEGORY_BY_ID,
    COLOR,
    CURRENCY,
    MAX_OFFER_ID,
    MODEL_LETTERS,
    OFFER_VALIDATION_DESCRIPTIONS,
    PNK_ALPHABET,
    SELLABLE_VALIDATION_STATUSES,
    UNIT,
    VALIDATION_STATUS_DESCRIPTIONS,
    VALIDATION_STATUS_ERRORS,
    VAT_RATES,
)

_SLUG_TABLE = str.maketrans("ăâîșşțţ", "aaisstt")


def _pick(rng: random.Random, seq: tuple | list) -> Any:
    # random.choice costs three times as much, and generation draws millions of these.
    return seq[int(rng.random() * len(seq))]


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit: weights 3, 1, 3, ... from the rightmost digit of the body."""
    digits = body[::-1]
    total = 3 * sum(map(int, digits[0::2])) + sum(map(int, digits[1::2]))
    return (10 - total % 10) % 10


def is_valid_ean(value: str) -> bool:
    """EAN-8, UPC-A, EAN-13 or GTIN-14 with a correct check digit."""
    if not value.isdigit() or len(value) not in (8, 12, 13, 14):
        return False
    return gtin_check_digit(value[:-1]) == int(value[-1])


def format_price(units: int | None) -> str | None:
    """Ten-thousandths to eMAG's four-decimal string ("84.0336")."""
    if units is None:
        return None
    sign = "-" if units < 0 else ""
    units = abs(units)
    return f"{sign}{units // UNIT}.{units % UNIT:04d}"


def price_units(value: Decimal) -> int:
    return int((value * UNIT).to_integral_value(rounding=ROUND_HALF_UP))


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().translate(_SLUG_TABLE)).strip("-")


@dataclass(slots=True)
class Product:
    """An eMAG product (one PNK), shared by every account that sells it."""

    part_number: str
    part_number_key: str
    name: str
    brand: str
    category_id: int
    ean: list[str]
    warranty: int
    characteristics: list[dict]
    family: dict | None
    image_count: int
    gross_price: int  # typical retail price with VAT, in units
    # url, description and image urls, computed on the first read (a slug per row is costly).
    rendered: dict | None = None

    def render(self) -> dict:
        if self.rendered is None:
            category = CATEGORY_BY_ID.get(self.category_id)
            benefit = category.benefit if category else ""
            self.rendered = {
                "url": f"https://www.emag.ro/{slugify(self.name)}/pd/{self.part_number_key}/",
                "description": f"<p>{self.name}. {benefit}</p>",
                "images": [
                    (image_url(self.part_number_key, n), 1 if n == 1 else 2) for n in range(1, self.image_count + 1)
                ],
            }
        return self.rendered


@dataclass(slots=True)
class Offer:
    """One account's offer on a product; the mutable state saves and drift change."""

    id: int
    product: Product
    sale_price: int
    recommended_price: int | None
    min_sale_price: int
    max_sale_price: int
    best_offer_sale_price: int
    best_offer_recommended_price: int
    vat_id: int
    status: int
    stock: int
    reserved: int
    handling_time: int
    number_of_offers: int
    buy_button_rank: int
    ownership: int
    validation_status: int
    offer_validation_status: int
    offer_details_id: int
    genius: tuple[int, int, int]
    warehouse_id: int = 1
    # Content a product_offer/save replaced (name, description, images, ...): shown instead of the product's.
    content: dict = field(default_factory=dict)

    @property
    def part_number(self) -> str:
        return self.content.get("part_number", self.product.part_number)

    @property
    def part_number_key(self) -> str:
        return self.product.part_number_key

    @property
    def general_stock(self) -> int:
        return self.stock

    @property
    def estimated_stock(self) -> int:
        return max(0, self.stock - self.reserved)

    @property
    def is_sellable(self) -> bool:
        return (
            self.stock > 0
            and self.status == 1
            and self.offer_validation_status == 1
            and self.validation_status in SELLABLE_VALIDATION_STATUSES
        )

    def to_row(self) -> dict:
        """The record exactly as product_offer/read returns it."""
        p = self.product
        c = self.content
        rendered = p.render()
        name = c.get("name", p.name)
        errors = VALIDATION_STATUS_ERRORS.get(self.validation_status)
        validation = [
            {
                "value": self.validation_status,
                "description": VALIDATION_STATUS_DESCRIPTIONS[self.validation_status],
                "errors": list(errors) if errors else None,
            }
        ]
        if "images" in c:
            images = [dict(i) for i in c["images"]]
        else:
            images = [{"url": url, "display_type": kind} for url, kind in rendered["images"]]
        if "name" in c:
            category = CATEGORY_BY_ID.get(c.get("category_id", p.category_id))
            description = f"<p>{name}. {category.benefit if category else ''}</p>"
            url = f"https://www.emag.ro/{slugify(name)}/pd/{p.part_number_key}/"
        else:
            description, url = rendered["description"], rendered["url"]
        return {
            "id": self.id,
            "part_number_key": p.part_number_key,
            "part_number": self.part_number,
            "name": name,
            "brand": c.get("brand", p.brand),
            "category_id": c.get("category_id", p.category_id),
            "vendor_category_id": c.get("vendor_category_id"),
            "description": c.get("description", description),
            "url": c.get("url", url),
            "sale_price": format_price(self.sale_price),
            "recommended_price": format_price(self.recommended_price),
            "min_sale_price": format_price(self.min_sale_price),
            "max_sale_price": format_price(self.max_sale_price),
            "best_offer_sale_price": format_price(self.best_offer_sale_price),
            "best_offer_recommended_price": format_price(self.best_offer_recommended_price),
            "currency": CURRENCY,
            "vat_id": self.vat_id,
            "status": self.status,
            "stock": [{"warehouse_id": self.warehouse_id, "value": self.stock}],
            "general_stock": self.general_stock,
            "estimated_stock": self.estimated_stock,
            "handling_time": [{"warehouse_id": self.warehouse_id, "value": self.handling_time}],
            "warranty": c.get("warranty", p.warranty),
            "ean": list(c.get("ean", p.ean)),
            "images": images,
            "attachments": [dict(a) for a in c.get("attachments", [])],
            "characteristics": [dict(x) for x in c.get("characteristics", p.characteristics)],
            "family": dict(p.family) if p.family else None,
            "number_of_offers": self.number_of_offers,
            "buy_button_rank": self.buy_button_rank,
            "ownership": self.ownership,
            "offer_details": {
                "id": self.offer_details_id,
                "warranty_type": 1,
                "supply_lead_time": 14,
                "emag_club": 1,
            },
            "validation_status": validation,
            "translation_validation_status": [dict(v) for v in validation],
            "offer_validation_status": {
                "value": self.offer_validation_status,
                "description": OFFER_VALIDATION_DESCRIPTIONS[self.offer_validation_status],
                "errors": None if self.offer_validation_status == 1 else ["Price outside the allowed range."],
            },
            "doc_errors": None if self.validation_status != 8 else list(VALIDATION_STATUS_ERRORS[8]),
            "genius_eligibility": self.genius[0],
            "genius_eligibility_type": self.genius[1],
            "genius_computed": self.genius[2],
        }


def image_url(pnk: str, n: int) -> str:
    digits = f"{int(pnk, 36) % 10**12:012d}"
    return f"https://marketplace-static.emag.ro/resources/{digits[:3]}/{digits[3:6]}/{digits[6:9]}/{digits[9:]}/{n}.jpg"


# Identifiers come from affine bijections of the product index, so they are unique by construction
# and any product can be generated on its own, in any order, without a registry of used values.
PNK_SPACE = 36**6
EAN_SPACE = 500_000_000  # the first EAN of a product; a second one lies in the upper half
SKU_SPACE = 1_000_000
MAX_PRODUCTS = 900_000


def _affine(index: int, space: int, multiplier: int, offset: int) -> int:
    return (index * multiplier + offset) % space


def _seed_code(seed: int) -> int:
    return seed * 2 if seed >= 0 else -seed * 2 - 1


def _rng(seed: int, purpose: int, index: int) -> random.Random:
    # Integer seeding is three times cheaper than string seeding, and this runs once per record.
    return random.Random(((_seed_code(seed) * 16 + purpose) << 44) + index)


PURPOSE_PRODUCT, PURPOSE_OFFER, PURPOSE_LAYOUT, PURPOSE_CREATED = 1, 2, 3, 4


def pnk_for(seed: int, index: int) -> str:
    n = _affine(index, PNK_SPACE, 1_299_709, (_seed_code(seed) * 7_919_777) % PNK_SPACE)
    chars = []
    for _ in range(6):
        n, digit = divmod(n, 36)
        chars.append(PNK_ALPHABET[digit])
    return "D" + "".join(chars) + "BM"


def ean_for(seed: int, index: int, second: bool = False) -> str:
    n = _affine(index, EAN_SPACE, 1_000_003, (_seed_code(seed) * 104_729) % EAN_SPACE)
    first12 = f"594{n + (EAN_SPACE if second else 0):09d}"
    return first12 + str(gtin_check_digit(first12))


def make_product(seed: int, index: int) -> Product:
    """Product number `index` of the seed's universe: the same whatever else was generated."""
    rng = _rng(seed, PURPOSE_PRODUCT, index)
    r = rng.random
    category = CATEGORIES[int(r() * len(CATEGORIES))]
    brand = BRANDS[int(r() * len(BRANDS))]
    noun = category.nouns[int(r() * len(category.nouns))]
    spec_values = category.spec.values
    spec = spec_values[int(r() * len(spec_values))]
    color = COLOR.values[int(r() * len(COLOR.values))]
    letters = len(MODEL_LETTERS)
    model = f"{MODEL_LETTERS[int(r() * letters)]}{MODEL_LETTERS[int(r() * letters)]}-{100 + int(r() * 899)}"
    eans = [ean_for(seed, index)]
    if r() < 0.05:
        eans.append(ean_for(seed, index, second=True))
    family = None
    if category.family_type_id is not None:
        family = {"id": 1000 + index, "name": f"{noun} {brand} {model}", "family_type_id": category.family_type_id}
    low, high = category.gross_prices
    gross = (low + int(r() * (high - low + 1))) * 100 + (99, 90, 49, 0)[int(r() * 4)]
    sku_number = _affine(index, SKU_SPACE, 7_919, (_seed_code(seed) * 31_337) % SKU_SPACE)
    return Product(
        part_number=f"{category.sku_prefix}-{sku_number:06d}",
        part_number_key=pnk_for(seed, index),
        name=f"{noun} {brand} {model}, {spec}, {color.lower()}",
        brand=brand,
        category_id=category.id,
        ean=eans,
        warranty=category.warranty[int(r() * len(category.warranty))],
        characteristics=[{"id": category.spec.id, "value": spec}, {"id": COLOR.id, "value": color}],
        family=family,
        image_count=(1, 2, 2, 3, 4)[int(r() * 5)],
        gross_price=gross * 100,  # hundredths of a RON to ten-thousandths
    )


class ProductPool:
    """Every eMAG product of the sandbox, generated on first use; indexes by PNK and EAN on demand."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.size = 0
        self._cache: dict[int, Product] = {}
        self._by_pnk: dict[str, Product] | None = None
        self._by_ean: dict[str, Product] | None = None

    def allocate(self, count: int) -> range:
        if self.size + count > MAX_PRODUCTS:
            raise ValueError(f"The sandbox holds at most {MAX_PRODUCTS} products; ask for fewer offers.")
        start = self.size
        self.size += count
        return range(start, self.size)

    def get(self, index: int) -> Product:
        product = self._cache.get(index)
        if product is None:
            product = self._cache[index] = make_product(self.seed, index)
        return product

    def new_product(self) -> Product:
        """A further generated product (drift adds offers on new products)."""
        product = self.get(self.allocate(1)[0])
        self._index(product)
        return product

    def new_custom_product(self, **fields: Any) -> Product:
        """A product a seller created through product_offer/save; eMAG gives it a fresh PNK."""
        index = self.allocate(1)[0]
        product = self._cache[index] = Product(part_number_key=pnk_for(self.seed, index), **fields)
        self._index(product)
        return product

    def by_pnk(self, pnk: str) -> Product | None:
        self._build_indexes()
        return self._by_pnk.get(pnk)  # type: ignore[union-attr]

    def by_ean(self, ean: str) -> Product | None:
        self._build_indexes()
        return self._by_ean.get(ean)  # type: ignore[union-attr]

    def _build_indexes(self) -> None:
        if self._by_pnk is None:
            self._by_pnk, self._by_ean = {}, {}
            for index in range(self.size):
                self._index(self.get(index))

    def _index(self, product: Product) -> None:
        if self._by_pnk is not None and self._by_ean is not None:
            self._by_pnk[product.part_number_key] = product
            for ean in product.ean:
                self._by_ean[ean] = product


_VALIDATION_WEIGHTS = (
    (9, 800),
    (11, 30),
    (3, 20),
    (12, 10),
    (1, 40),
    (0, 10),
    (4, 30),
    (2, 10),
    (8, 20),
    (5, 10),
    (6, 10),
    (10, 10),
)
_VALIDATION_VALUES = [v for v, _ in _VALIDATION_WEIGHTS]
_VALIDATION_CUM = []
_total = 0
for _v, _w in _VALIDATION_WEIGHTS:
    _total += _w
    _VALIDATION_CUM.append(_total)


def make_offer(rng: random.Random, offer_id: int, product: Product, *, is_fbe: bool, details_id: int) -> Offer:
    """Per-account offer state: prices without VAT within [min, max], stock, statuses."""
    category = CATEGORY_BY_ID[product.category_id]
    vat_rate = VAT_RATES[category.vat_id]
    # A small per-account price difference, as a seller prices its FBE offers differently.
    gross = product.gross_price * (1 + _pick(rng, (0, 0, 0, 0.02, -0.03, 0.05)))
    sale = int(gross / (1 + float(vat_rate)))
    min_price = int(sale * rng.uniform(0.55, 0.85)) // UNIT * UNIT
    max_price = -(-int(sale * rng.uniform(1.3, 2.0)) // UNIT) * UNIT
    recommended = None if rng.random() < 0.4 else int(sale * rng.uniform(1.05, 1.3))
    number_of_offers = _pick(rng, (1, 1, 1, 2, 2, 3, 4, 6))
    rank = 1 if number_of_offers == 1 or rng.random() < 0.55 else 2 + int(rng.random() * (number_of_offers - 1))
    best = sale if rank == 1 else int(sale * rng.uniform(0.88, 0.99))
    best_recommended = recommended if recommended is not None and rank == 1 else int(best * rng.uniform(1.0, 1.2))
    draw = rng.random()
    if draw < 0.12:
        stock = 0
    elif draw < 0.6:
        stock = 1 + int(rng.random() * 19)
    elif draw < 0.95:
        stock = 20 + int(rng.random() * 230)
    else:
        stock = 250 + int(rng.random() * 2750)
    reserved = _pick(rng, (0, 0, 0, 0, 0, 0, 1, 2)) if stock else 0
    status_draw = rng.random()
    status = 1 if status_draw < 0.88 else (0 if status_draw < 0.97 else 2)
    validation = _VALIDATION_VALUES[_bisect(_VALIDATION_CUM, int(rng.random() * _total))]
    offer_validation = 2 if rng.random() < 0.03 else 1
    genius = (1, 1, 1) if rng.random() < 0.3 else (0, 0, 0)
    return Offer(
        id=offer_id,
        product=product,
        sale_price=sale,
        recommended_price=recommended,
        min_sale_price=min_price,
        max_sale_price=max_price,
        best_offer_sale_price=best,
        best_offer_recommended_price=best_recommended,
        vat_id=category.vat_id,
        status=status,
        stock=stock,
        reserved=min(reserved, stock),
        handling_time=0 if is_fbe else _pick(rng, (0, 1, 1, 1, 2, 3)),
        number_of_offers=number_of_offers,
        buy_button_rank=rank,
        ownership=1 if rng.random() < 0.7 else 2,
        validation_status=validation,
        offer_validation_status=offer_validation,
        offer_details_id=details_id,
        genius=genius,
        warehouse_id=2 if is_fbe else 1,
    )


def _bisect(cum: list[int], x: int) -> int:
    lo, hi = 0, len(cum)
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


class AccountCatalogue:
    """One account's offers in id order. Offers are generated when first touched and kept after."""

    def __init__(self, ids: list[int], make: Callable[[int, int], Offer], product_at: Callable[[int], Product]) -> None:
        # `make(position, offer_id)` builds the offer first laid out at that position.
        self.ids = ids
        self._position = dict(zip(ids, range(len(ids)), strict=True))
        self._offers: dict[int, Offer] = {}
        self._make = make
        self._product_at = product_at
        self._by_part_number: dict[str, int] | None = None
        self._by_pnk: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, offer_id: object) -> bool:
        return offer_id in self._offers or offer_id in self._position

    def get(self, offer_id: int) -> Offer | None:
        offer = self._offers.get(offer_id)
        if offer is None:
            position = self._position.get(offer_id)
            if position is None:
                return None
            offer = self._offers[offer_id] = self._make(position, offer_id)
        return offer

    def at(self, index: int) -> Offer:
        """The offer at this place in id order."""
        return self.get(self.ids[index])  # type: ignore[return-value]

    def slice(self, start: int, stop: int) -> list[Offer]:
        return [self.get(i) for i in self.ids[start:stop]]  # type: ignore[misc]

    def warm(self) -> None:
        """Generate every offer now (and its product), as the first read of each would."""
        for _ in self.in_order():
            pass

    def in_order(self) -> Iterator[Offer]:
        get = self.get
        return (get(i) for i in self.ids)  # type: ignore[misc]

    def id_for_part_number(self, part_number: str) -> int | None:
        return self._part_number_index().get(part_number)

    def id_for_pnk(self, pnk: str) -> int | None:
        return self._pnk_index().get(pnk)

    def rename_part_number(self, offer: Offer, part_number: str) -> None:
        index = self._part_number_index()
        index.pop(offer.part_number, None)
        offer.content["part_number"] = part_number
        index[part_number] = offer.id

    def add(self, offer: Offer) -> None:
        self._offers[offer.id] = offer
        bisect.insort(self.ids, offer.id)
        if self._by_part_number is not None:
            self._by_part_number[offer.part_number] = offer.id
        if self._by_pnk is not None:
            self._by_pnk[offer.part_number_key] = offer.id

    def remove(self, offer_id: int) -> Offer:
        offer = self.get(offer_id)
        if offer is None:
            raise KeyError(offer_id)
        del self._offers[offer_id]
        self._position.pop(offer_id, None)
        del self.ids[bisect.bisect_left(self.ids, offer_id)]
        if self._by_part_number is not None:
            self._by_part_number.pop(offer.part_number, None)
        if self._by_pnk is not None:
            self._by_pnk.pop(offer.part_number_key, None)
        return offer

    def next_free_id(self) -> int:
        return (self.ids[-1] if self.ids else 10_000) + 1

    def _identity(self, offer_id: int) -> tuple[str, str]:
        """(part number, PNK) without generating the whole offer when it was never touched."""
        offer = self._offers.get(offer_id)
        if offer is not None:
            return offer.part_number, offer.part_number_key
        product = self._product_at(self._position[offer_id])
        return product.part_number, product.part_number_key

    def _part_number_index(self) -> dict[str, int]:
        if self._by_part_number is None:
            self._by_part_number = {self._identity(i)[0]: i for i in self.ids}
        return self._by_part_number

    def _pnk_index(self) -> dict[str, int]:
        if self._by_pnk is None:
            self._by_pnk = {self._identity(i)[1]: i for i in self.ids}
        return self._by_pnk


def generate_catalogues(
    seed: int, offers: int, accounts: list[tuple[str, bool]], shared_share: float = 0.6
) -> tuple[dict[str, AccountCatalogue], ProductPool]:
    """Catalogues for `accounts` ([(name, is_fbe)]), the first one being the main account.

    Every further account sells `shared_share` of the first account's products (with its own ids,
    prices and stock) plus products of its own, like a real main/FBE pair. Only the layout (which
    product sits under which id) is computed here; offers are generated when first read.
    """
    pool = ProductPool(seed)
    main_products = list(pool.allocate(offers))
    catalogues: dict[str, AccountCatalogue] = {}
    span = (MAX_OFFER_ID - 10_000) // max(1, len(accounts))
    if offers * 2 > span:
        raise ValueError(f"At most {span // 2} offers per account fit eMAG's id range with {len(accounts)} accounts.")
    for account_index, (name, is_fbe) in enumerate(accounts):
        layout = _rng(seed, PURPOSE_LAYOUT, account_index)
        if account_index == 0:
            product_of = main_products
        else:
            shared = layout.sample(main_products, round(offers * shared_share))
            product_of = shared + list(pool.allocate(offers - len(shared)))
            layout.shuffle(product_of)
        base = 10_000 + account_index * span + int(layout.random() * (span // 20))
        max_gap = max(1, min(3, (span // 2) // max(1, offers)))
        r = layout.random
        ids = []
        offer_id = base
        for _ in range(offers):
            offer_id += 1 + int(r() * max_gap)
            ids.append(offer_id)
        catalogues[name] = AccountCatalogue(
            ids, _offer_maker(seed, account_index, is_fbe, pool, product_of), lambda pos, p=product_of: pool.get(p[pos])
        )
    return catalogues, pool


def _offer_maker(
    seed: int, account_index: int, is_fbe: bool, pool: ProductPool, product_of: list[int]
) -> Callable[[int, int], Offer]:
    details_base = 100_000_000 + account_index * 30_000_000

    def make(position: int, offer_id: int) -> Offer:
        rng = _rng(seed, PURPOSE_OFFER, (account_index << 32) + position)
        product = pool.get(product_of[position])
        return make_offer(rng, offer_id, product, is_fbe=is_fbe, details_id=details_base + position * 7)

    return make


def created_offer_rng(seed: int, account_index: int, offer_id: int) -> random.Random:
    return _rng(seed, PURPOSE_CREATED, (account_index << 32) + offer_id)
