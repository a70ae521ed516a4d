"""Read queries shared by the REST API (new resources and the seed-compatible endpoints).

Every list query here has a fixed number of SQL statements whatever its length: related rows
come through select_related or one prefetch, never one query per row.
"""

import operator
from collections.abc import Iterable
from datetime import datetime
from functools import reduce

from django.db.models import Count, Max, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Upper

from emag.models import Offer, Product, ProductSearch, SellerAccount, SyncError, SyncRun

# Columns the lists never show; skipping them keeps 200-row pages light.
OFFER_LIST_DEFERRED = (
    "raw",
    "handling_time",
    "doc_errors",
    "stock",
    "best_offer_recommended_price",
    "ownership",
    "genius_eligibility_type",
    "genius_computed",
    "content_hash",
)
PRODUCT_LIST_DEFERRED = ("description", "characteristics", "family", "images")

FAILED_STATUSES = (SyncRun.Status.FAILED, SyncRun.Status.PARTIAL, SyncRun.Status.ABANDONED)


# What a search looks in: each term, in any case and anywhere, in one of the product's name, SKU, EAN or
# PNK (an offer's PNK is its product's, both read from the same eMAG record). These are DRF's and the
# admin's `search_fields`; ProductSearch holds them as the lines of one text per product (migration 0009).
PRODUCT_SEARCH_FIELDS = ("name", "sku", "ean_text", "part_number_key")
OFFER_SEARCH_FIELDS = tuple(f"product__{field}" for field in PRODUCT_SEARCH_FIELDS)
SEARCH_SEPARATOR = "\n"


def _search(rows: QuerySet, terms: Iterable[str], product: str, fields: tuple[str, ...]) -> QuerySet:
    """The rows where every term is in one of `fields`: `product` is the rows' path to their product's id."""
    for term in terms:
        if SEARCH_SEPARATOR in term:
            # A quoted phrase holding the separator could match across two lines: field by field, as Django does.
            rows = rows.filter(reduce(operator.or_, (Q(**{f"{field}__icontains": term}) for field in fields)))
        else:
            # The text is stored in capitals (UPPER, the database's own, as Django's icontains compares).
            matching = ProductSearch.objects.filter(text__contains=Upper(Value(term))).values("product_id")
            rows = rows.filter(**{f"{product}__in": matching})
    return rows


def search_offers(offers: QuerySet[Offer], terms: Iterable[str]) -> QuerySet[Offer]:
    """The offers where every term is in their product's name, SKU, EAN or PNK (any case, anywhere): the rows
    of DRF's and the admin's own search over OFFER_SEARCH_FIELDS, found through one trigram index.

    Their own query ORs `UPPER(col) LIKE` over the joined products, which no index can serve: every search
    read all the offers and their products (~220 ms at 100,000 offers). Here each term is a
    `product_id IN (SELECT product_id FROM emag_productsearch WHERE text LIKE UPPER(...))`: one narrow
    table, one index, and PostgreSQL chooses for itself between walking the offers in the page's order (a
    word of many names) and starting from the few matches (a SKU, an EAN). A page takes a few ms at
    100,000 offers.
    """
    return _search(offers, terms, "product_id", OFFER_SEARCH_FIELDS)


def search_products(products: QuerySet[Product], terms: Iterable[str]) -> QuerySet[Product]:
    """The products where every term is in their name, SKU, EAN or PNK: DRF's and the admin's own search over
    PRODUCT_SEARCH_FIELDS, through the same table as search_offers."""
    return _search(products, terms, "pk", PRODUCT_SEARCH_FIELDS)


def account_list() -> QuerySet[SellerAccount]:
    return SellerAccount.objects.all()


# What an offers list shows of the offer's account and product (OfferSerializer, the seed-compatible rows).
# Loading only these keeps 8 dates per row of account columns out of the page: 50 rows read and build
# in about half the time.
OFFER_LIST_ACCOUNT_FIELDS = ("id", "name", "kind", "last_full_sync_at")
OFFER_LIST_PRODUCT_FIELDS = ("id", "sku", "part_number_key", "name", "brand", "eans", "category_id")


def _all_but(model: type, kept: tuple[str, ...]) -> list[str]:
    return [field.name for field in model._meta.concrete_fields if field.name not in kept]


def offer_list(*, with_details: bool = False) -> QuerySet[Offer]:
    offers = Offer.objects.select_related("account", "product")
    if not with_details:
        offers = offers.defer(
            *OFFER_LIST_DEFERRED,
            *(f"account__{name}" for name in _all_but(SellerAccount, OFFER_LIST_ACCOUNT_FIELDS)),
            *(f"product__{name}" for name in _all_but(Product, OFFER_LIST_PRODUCT_FIELDS)),
        )
    return offers


def product_list(*, with_details: bool = False) -> QuerySet[Product]:
    offers = Offer.objects.select_related("account").defer(*OFFER_LIST_DEFERRED).order_by("account__name", "emag_id")
    products = Product.objects.prefetch_related(Prefetch("offers", queryset=offers))
    if not with_details:
        products = products.defer(*PRODUCT_LIST_DEFERRED)
    return products


def sync_run_list() -> QuerySet[SyncRun]:
    return SyncRun.objects.select_related("account")


def sync_error_list() -> QuerySet[SyncError]:
    return SyncError.objects.order_by("page", "index", "id")


def active_run(account: SellerAccount, kind: str = SyncRun.Kind.OFFERS) -> SyncRun | None:
    return sync_run_list().filter(account=account, kind=kind, status__in=SyncRun.ACTIVE_STATUSES).first()


def _sync_count_aggregates() -> dict:
    return {
        "total": Count("id"),
        "successful": Count("id", filter=Q(status__in=SyncRun.SUCCESS_STATUSES)),
        "failed": Count("id", filter=Q(status__in=FAILED_STATUSES)),
        "cancelled": Count("id", filter=Q(status=SyncRun.Status.CANCELLED)),
        "active": Count("id", filter=Q(status__in=SyncRun.ACTIVE_STATUSES)),
        "last_started_at": Max("started_at"),
        "last_finished_at": Max("finished_at"),
    }


def _sync_figures(counts: dict) -> dict:
    decided = counts["successful"] + counts["failed"]
    return {
        "total_syncs": counts["total"],
        "successful_syncs": counts["successful"],
        "failed_syncs": counts["failed"],
        "cancelled_syncs": counts["cancelled"],
        "active_syncs": counts["active"],
        "success_rate": round(100.0 * counts["successful"] / decided, 2) if decided else 100.0,
        "last_started_at": counts["last_started_at"],
        "last_finished_at": counts["last_finished_at"],
    }


def empty_sync_statistics() -> dict:
    """`sync_statistics` of an account that never synced."""
    zero = {"total": 0, "successful": 0, "failed": 0, "cancelled": 0, "active": 0}
    return _sync_figures({**zero, "last_started_at": None, "last_finished_at": None})


def _runs_since(since: datetime | None) -> QuerySet[SyncRun]:
    runs = SyncRun.objects.all()
    if since is not None:
        runs = runs.filter(created_at__gte=since)
    return runs


def sync_statistics(*, since: datetime | None = None) -> dict:
    """Counts of sync runs (all time, or created since `since`), and the success rate in percent.

    Failed means failed, partial or abandoned. The rate is over runs that succeeded or failed
    (cancelled and still-active runs are neither); with no such run it is 100.0, as nothing failed.
    """
    return _sync_figures(_runs_since(since).aggregate(**_sync_count_aggregates()))


def sync_statistics_by_account(*, since: datetime | None = None) -> dict[int, dict]:
    """`sync_statistics` per account id, in one query."""
    rows = _runs_since(since).order_by().values("account_id").annotate(**_sync_count_aggregates())
    return {row["account_id"]: _sync_figures(row) for row in rows}


def latest_runs_by_account(account_ids: list[int]) -> dict[int, SyncRun]:
    """The newest offers run of each account (one query per account; accounts are few)."""
    latest = {}
    for account_id in account_ids:
        run = sync_run_list().filter(account_id=account_id, kind=SyncRun.Kind.OFFERS).first()
        if run is not None:
            latest[account_id] = run
    return latest


def offer_counts_by_account() -> dict[int, dict]:
    """Per account id: offers total, active, sellable, out of stock, and the last time one changed."""
    rows = (
        Offer.objects.filter(is_present=True)
        .order_by()
        .values("account_id")
        .annotate(
            total=Count("id"),
            active=Count("id", filter=Q(status=Offer.Status.ACTIVE)),
            sellable=Count("id", filter=Q(is_sellable=True)),
            out_of_stock=Count("id", filter=Q(stock_total__lte=0)),
            last_changed_at=Max("last_changed_at"),
        )
    )
    return {row.pop("account_id"): row for row in rows}
