"""Seed N offers (and their products) into the database fast, for the API and admin benchmarks.

    .venv/bin/python bench/seed_offers.py --offers 100000 --reset [--database-url postgres://…/magflow_bench]

The offers look like what a sync stores: an eMAG-shaped record in `raw`, the columns derived from
it, Romanian names, valid EAN-13s, and a share of SKUs present on both accounts (one product, two
offers). On PostgreSQL the rows go in with COPY (100,000 offers in well under a minute); elsewhere
with bulk_create. Deterministic for a given --seed. `--reset` first deletes every offer, product,
sync run and API call of the database (never users).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from common import BENCH_DATABASE_URL, create_database

ROOT = Path(__file__).resolve().parents[1]

# Generic words a Romanian catalogue is made of: noun, then a qualifier; brands apart.
NOUNS = [
    "Lampa birou",
    "Cana ceramica",
    "Tricou bumbac",
    "Casti wireless",
    "Rucsac laptop",
    "Set cutite",
    "Tigaie antiaderenta",
    "Aspirator vertical",
    "Mouse optic",
    "Tastatura mecanica",
    "Cablu USB-C",
    "Incarcator rapid",
    "Husa telefon",
    "Pat caine",
    "Jucarie interactiva",
    "Perna ortopedica",
    "Lenjerie pat",
    "Prosop baie",
    "Ceas inteligent",
    "Boxa portabila",
    "Fierbator electric",
    "Espressor cafea",
    "Blender vertical",
    "Bormasina cu acumulator",
    "Surubelnita electrica",
    "Trotineta electrica",
    "Bicicleta copii",
    "Minge fotbal",
    "Geanta sport",
    "Pantofi alergare",
    "Sosete bumbac",
    "Crema de fata",
    "Sampon natural",
    "Parfum barbati",
    "Carte de bucate",
    "Joc de societate",
    "Scaun birou ergonomic",
    "Birou extensibil",
    "Raft metalic",
    "Oglinda decorativa",
]
QUALIFIERS = [
    "LED",
    "negru",
    "alb",
    "rosu",
    "albastru",
    "verde",
    "premium",
    "compact",
    "XL",
    "pentru copii",
    "inox",
    "din lemn",
    "reincarcabil",
    "2 in 1",
    "set 3 bucati",
    "editie limitata",
    "cu husa",
    "impermeabil",
    "pliabil",
    "profesional",
]
BRANDS = [
    "Acme",
    "Arctic",
    "Bosch",
    "Philips",
    "Tefal",
    "Samsung",
    "Xiaomi",
    "Heinner",
    "Star-Light",
    "Daewoo",
    "Zephyr",
    "Carpatina",
    "Dacia Home",
    "Bucovina",
    "Gorenje",
    "Hama",
    "Logitech",
    "Puma",
    "Nivea",
    "Lego",
]
VALIDATION = {
    0: "Draft",
    1: "In validation",
    3: "Awaiting EAN validation",
    4: "Awaiting documentation validation",
    5: "Brand rejected",
    8: "Documentation rejected",
    9: "Approved documentation",
    11: "Documentation update pending",
    12: "Update rejected",
}
# Mostly approved, like a real catalogue: (value, weight).
VALIDATION_WEIGHTS = [(9, 80), (11, 5), (3, 3), (4, 4), (1, 2), (8, 2), (5, 1), (0, 2), (12, 1)]
SELLABLE_VALIDATION = {3, 9, 11, 12}
PNK_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def setup_django(database_url: str) -> None:
    from common import use_bench_env

    use_bench_env(database_url)


def ean13(rng: random.Random) -> str:
    digits = [5, 9, 4] + [rng.randrange(10) for _ in range(9)]
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 4))).quantize(Decimal("0.0001"))


def _hash(value: object) -> str:
    return hashlib.md5(json.dumps(value, sort_keys=True, default=str).encode(), usedforsecurity=False).hexdigest()


def product_content(rng: random.Random, number: int) -> dict:
    noun = rng.choice(NOUNS)
    brand = rng.choice(BRANDS)
    name = f"{noun} {brand} {rng.choice(QUALIFIERS)} {rng.randrange(100, 999)}"
    sku = f"{noun[:3].upper()}-{number:07d}"
    return {
        "part_number": sku,
        "part_number_key": "D" + "".join(rng.choice(PNK_ALPHABET) for _ in range(7)) + "BM",
        "name": name,
        "brand": brand,
        "description": f"<p>{name}. Produs original {brand}, garantie inclusa.</p>",
        "url": "",
        "category_id": rng.randrange(1000, 4000),
        "vendor_category_id": None,
        "warranty": rng.choice([0, 12, 24, 36]),
        "ean": [ean13(rng)],
        "images": [
            {
                "url": f"https://marketplace-static.emag.ro/resources/000/{number // 1000:03d}/{number:07d}/1.jpg",
                "display_type": 1,
            }
        ],
        "characteristics": [{"id": 6506, "value": rng.choice(["S", "M", "L", "36 EU", "40 EU", "1 buc"])}],
        "family": None,
    }


def offer_record(rng: random.Random, content: dict, emag_id: int) -> dict:
    sale = rng.uniform(9.9, 2500.0)
    validation = rng.choices([v for v, _ in VALIDATION_WEIGHTS], weights=[w for _, w in VALIDATION_WEIGHTS])[0]
    stock = 0 if rng.random() < 0.12 else rng.randrange(1, 250)
    status = 1 if rng.random() < 0.9 else rng.choice([0, 2])
    offer_validation = 1 if rng.random() < 0.95 else 2
    return {
        **content,
        "id": emag_id,
        "sale_price": str(_money(sale)),
        "recommended_price": str(_money(sale * 1.15)),
        "min_sale_price": str(_money(sale * 0.7)),
        "max_sale_price": str(_money(sale * 1.6)),
        "best_offer_sale_price": str(_money(sale * rng.uniform(0.9, 1.0))),
        "best_offer_recommended_price": str(_money(sale * 1.15)),
        "currency": "RON",
        "vat_id": 1,
        "status": status,
        "stock": [{"warehouse_id": 1, "value": stock}],
        "general_stock": stock,
        "estimated_stock": max(stock - rng.randrange(0, 3), 0),
        "handling_time": [{"warehouse_id": 1, "value": rng.choice([0, 1, 2, 3])}],
        "number_of_offers": rng.randrange(1, 12),
        "buy_button_rank": rng.randrange(1, 8),
        "ownership": rng.choice([1, 2]),
        "offer_details": {"id": 100_000_000 + emag_id, "warranty_type": 1, "supply_lead_time": 14},
        "validation_status": [{"value": validation, "description": VALIDATION[validation], "errors": None}],
        "offer_validation_status": {
            "value": offer_validation,
            "description": "Saleable" if offer_validation == 1 else "Invalid price",
            "errors": None,
        },
        "doc_errors": None,
        "genius_eligibility": rng.choice([0, 1]),
        "genius_eligibility_type": 1,
        "genius_computed": rng.choice([0, 1]),
    }


def build_rows(offers: int, seed: int, shared: float, accounts: list) -> tuple[list, list]:
    """Products and offers as unsaved model instances: offers split evenly over the accounts,
    a `shared` share of the later accounts' offers reusing a product of the first account."""
    from django.utils import timezone

    from emag.models import Offer, Product

    rng = random.Random(seed)
    now = timezone.now()
    products: list[Product] = []
    contents: list[dict] = []
    rows: list[Offer] = []
    per_account = [offers // len(accounts) + (1 if i < offers % len(accounts) else 0) for i in range(len(accounts))]
    for index, (account, count) in enumerate(zip(accounts, per_account, strict=True)):
        first_own_product = len(products)
        for n in range(count):
            if index > 0 and n < first_own_product and rng.random() < shared:
                product_index = n  # the same SKU as the first account's n-th offer
            else:
                content = product_content(rng, len(products) + 1)
                contents.append(content)
                products.append(
                    Product(
                        sku=content["part_number"],
                        part_number_key=content["part_number_key"],
                        name=content["name"],
                        brand=content["brand"],
                        description=content["description"],
                        category_id=content["category_id"],
                        warranty=content["warranty"],
                        eans=content["ean"],
                        ean_text=" ".join(content["ean"]),
                        images=content["images"],
                        characteristics=content["characteristics"],
                        content_hash=_hash(content),
                        created_at=now,
                        updated_at=now,
                    )
                )
                product_index = len(products) - 1
            emag_id = 1_000_000 * (index + 1) + n + 1
            record = offer_record(rng, contents[product_index], emag_id)
            validation = record["validation_status"][0]["value"]
            stock_total = record["stock"][0]["value"]
            changed = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 30))
            rows.append(
                Offer(
                    account=account,
                    product_id=product_index,  # replaced by the real id once products are saved
                    emag_id=emag_id,
                    emag_offer_id=record["offer_details"]["id"],
                    part_number_key=record["part_number_key"],
                    sale_price=Decimal(record["sale_price"]),
                    recommended_price=Decimal(record["recommended_price"]),
                    min_sale_price=Decimal(record["min_sale_price"]),
                    max_sale_price=Decimal(record["max_sale_price"]),
                    best_offer_sale_price=Decimal(record["best_offer_sale_price"]),
                    best_offer_recommended_price=Decimal(record["best_offer_recommended_price"]),
                    currency="RON",
                    vat_id=1,
                    status=record["status"],
                    stock=record["stock"],
                    stock_total=stock_total,
                    general_stock=record["general_stock"],
                    estimated_stock=record["estimated_stock"],
                    handling_time=record["handling_time"],
                    handling_time_days=record["handling_time"][0]["value"],
                    validation_status=validation,
                    validation_status_description=VALIDATION[validation],
                    offer_validation_status=record["offer_validation_status"]["value"],
                    offer_validation_status_description=record["offer_validation_status"]["description"],
                    buy_button_rank=record["buy_button_rank"],
                    number_of_offers=record["number_of_offers"],
                    ownership=record["ownership"],
                    genius_eligibility=record["genius_eligibility"],
                    genius_eligibility_type=record["genius_eligibility_type"],
                    genius_computed=record["genius_computed"],
                    is_sellable=(
                        stock_total > 0
                        and record["status"] == 1
                        and record["offer_validation_status"]["value"] == 1
                        and validation in SELLABLE_VALIDATION
                    ),
                    raw=record,
                    content_hash=_hash(record),
                    first_seen_at=changed - timedelta(days=30),
                    last_changed_at=changed,
                    last_seen_at=now,
                    is_present=True,
                )
            )
    return products, rows


def _copy_rows(model, objects: list, connection) -> None:
    """COPY model instances into their table, with Django's own value preparation."""
    fields = [f for f in model._meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for obj in objects:
            copy.write_row([f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields])


def _next_id(model) -> int:
    from django.db.models import Max

    return (model.objects.aggregate(top=Max("id"))["top"] or 0) + 1


def write_rows(products: list, offers: list, batch_size: int = 5000) -> None:
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from emag.models import Offer, Product

    with transaction.atomic():
        first_product = _next_id(Product)
        first_offer = _next_id(Offer)
        for i, product in enumerate(products):
            product.id = first_product + i
        for i, offer in enumerate(offers):
            offer.id = first_offer + i
            offer.product_id = first_product + offer.product_id
        if connection.vendor == "postgresql":
            _copy_rows(Product, products, connection)
            _copy_rows(Offer, offers, connection)
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), [Product, Offer]):
                    cursor.execute(sql)
        else:
            Product.objects.bulk_create(products, batch_size=batch_size)
            Offer.objects.bulk_create(offers, batch_size=batch_size)
    if connection.vendor == "postgresql":
        # The steady state autovacuum reaches on a live database: statistics, and a visibility map
        # that lets PostgreSQL count from an index instead of reading every row.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE emag_product")
            cursor.execute("VACUUM ANALYZE emag_offer")
            cursor.execute("VACUUM ANALYZE emag_productsearch")


def ensure_accounts(names: list[str], base_url: str) -> list:
    from emag.models import SellerAccount

    accounts = []
    for name in names:
        kind = SellerAccount.Kind.FBE if name == "fbe" else SellerAccount.Kind.MAIN
        account, created = SellerAccount.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "platform": SellerAccount.Platform.CUSTOM,
                "base_url": base_url,
                "username": f"{name}@sandbox.magflow.local",
            },
        )
        if created:
            account.set_password(f"sandbox-{name}-secret")
            account.save(update_fields=["password_encrypted"])
        accounts.append(account)
    return accounts


def reset_database() -> None:
    from emag.models import ApiCall, Offer, Product, SyncRun

    ApiCall.objects.all().delete()
    Offer.objects.all().delete()
    SyncRun.objects.all().delete()
    Product.objects.all().delete()


def seed(
    offers: int, seed_value: int = 1, shared: float = 0.3, names: list[str] | None = None, reset: bool = False
) -> dict:
    """Seed the configured database; returns what was written and how long it took."""
    from emag.models import Offer

    started = time.perf_counter()
    if reset:
        reset_database()
    accounts = ensure_accounts(names or ["main", "fbe"], "http://127.0.0.1:8001/api-3")
    products, rows = build_rows(offers, seed_value, shared, accounts)
    built = time.perf_counter()
    write_rows(products, rows)
    done = time.perf_counter()
    return {
        "offers": len(rows),
        "products": len(products),
        "total_offers_in_db": Offer.objects.count(),
        "build_seconds": built - started,
        "write_seconds": done - built,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shared", type=float, default=0.3, help="Share of later accounts' SKUs also on the first.")
    parser.add_argument("--accounts", default="main,fbe", help="Comma-separated account names.")
    parser.add_argument("--database-url", default=BENCH_DATABASE_URL, help="Created and migrated when missing.")
    parser.add_argument("--reset", action="store_true", help="Delete offers, products, runs and API calls first.")
    args = parser.parse_args()
    create_database(args.database_url)
    setup_django(args.database_url)
    result = seed(args.offers, args.seed, args.shared, args.accounts.split(","), args.reset)
    print(
        f"seeded {result['offers']} offers and {result['products']} products "
        f"({result['total_offers_in_db']} offers in the database): "
        f"built in {result['build_seconds']:.1f} s, written in {result['write_seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()
