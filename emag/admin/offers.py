"""Offers: the filters staff use, search that stays fast at 100,000 rows, why an offer sells or not, CSV."""

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from emag import selectors
from emag.admin.common import (
    LOW_STOCK,
    OFFER_VALIDATION_STATUSES,
    VALIDATION_STATUSES,
    EstimatedCountPaginator,
    ReadOnlyAdmin,
    or_dash,
    search_terms,
)
from emag.dashboard import SELLABLE_VALIDATION_STATUSES
from emag.models import Offer


class ValidationStatusFilter(admin.SimpleListFilter):
    title = "validation status"
    parameter_name = "validation"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(value), f"{value} {label}") for value, label in VALIDATION_STATUSES.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        try:
            return queryset.filter(validation_status=int(self.value()))
        except ValueError:
            return queryset.none()


class OfferValidationFilter(admin.SimpleListFilter):
    title = "offer validation"
    parameter_name = "offer_validation"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(value), label) for value, label in OFFER_VALIDATION_STATUSES.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        try:
            return queryset.filter(offer_validation_status=int(self.value()))
        except ValueError:
            return queryset.none()


class StockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("out", "Out of stock"), ("low", f"Low (1–{LOW_STOCK})"), ("in", f"In stock (over {LOW_STOCK})")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return {
            "out": lambda: queryset.filter(stock_total__lte=0),
            "low": lambda: queryset.filter(stock_total__gte=1, stock_total__lte=LOW_STOCK),
            "in": lambda: queryset.filter(stock_total__gt=LOW_STOCK),
        }.get(self.value(), lambda: queryset)()


CSV_COLUMNS = [
    ("account", "account__name"),
    ("emag_id", "emag_id"),
    ("sku", "product__sku"),
    ("name", "product__name"),
    ("pnk", "part_number_key"),
    ("sale_price", "sale_price"),
    ("currency", "currency"),
    ("stock", "stock_total"),
    ("status", "status"),
    ("sellable", "is_sellable"),
    ("validation_status", "validation_status"),
    ("offer_validation_status", "offer_validation_status"),
    ("buy_button_rank", "buy_button_rank"),
    ("number_of_offers", "number_of_offers"),
    ("present_on_emag", "is_present"),
    ("last_changed_at", "last_changed_at"),
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_cell(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet; eMAG names are outside data.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, bool):
        return int(value)
    if hasattr(value, "isoformat"):
        return timezone.localtime(value).isoformat()
    return value


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdmin):
    list_display = [
        "sku",
        "name",
        "account",
        "price",
        "stock_total",
        "status",
        "is_sellable",
        "validation",
        "buy_button_rank",
        "last_changed_at",
    ]
    list_display_links = ["sku", "name"]
    list_select_related = ["account", "product"]
    list_filter = [
        "account",
        "status",
        "is_sellable",
        ValidationStatusFilter,
        OfferValidationFilter,
        StockFilter,
        ("is_present", admin.BooleanFieldListFilter),
    ]
    search_fields = list(selectors.OFFER_SEARCH_FIELDS)  # what get_search_results searches (selectors.search_offers)
    search_help_text = "An exact SKU, PNK, EAN or eMAG id, or any part of a SKU, name, EAN or PNK."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    # The (account, emag_id) unique index serves this order, so no sort of the whole table.
    ordering = ["account_id", "emag_id"]
    change_list_template = "admin/emag/offer/change_list.html"
    fieldsets = [
        ("Offer", {"fields": ["product_link", "account", "emag_id", "emag_offer_id", "part_number_key", "is_present"]}),
        ("Why it is or is not sellable", {"fields": ["sellable_explanation"]}),
        (
            "Price",
            {
                "fields": [
                    "sale_price",
                    "recommended_price",
                    "min_sale_price",
                    "max_sale_price",
                    "best_offer_sale_price",
                    "currency",
                    "vat_id",
                ]
            },
        ),
        (
            "Stock",
            {
                "fields": [
                    "stock_per_warehouse",
                    "stock_total",
                    "general_stock",
                    "estimated_stock",
                    "handling_time_days",
                ]
            },
        ),
        ("Competition", {"fields": ["buy_button_rank", "number_of_offers", "ownership", "genius_eligibility"]}),
        ("Other accounts", {"fields": ["sibling_offers"]}),
        ("History", {"fields": ["first_seen_at", "last_changed_at", "last_seen_at"]}),
        ("Raw eMAG record", {"fields": ["raw_record"]}),
    ]
    readonly_fields = ["product_link", "sellable_explanation", "stock_per_warehouse", "sibling_offers", "raw_record"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if term and " " not in term:
            # Staff mostly paste a whole SKU, PNK, EAN or eMAG id: answer those from the indexes, and only
            # when nothing matches exactly fall back to the substring search, which reads every row.
            lookups = [{"product__sku": term}, {"product__part_number_key": term.upper()}, {"product__ean_text": term}]
            if term.isdigit() and int(term) < 2**63:
                lookups.append({"emag_id": int(term)})
            ids = set()
            for lookup in lookups:
                ids.update(queryset.filter(**lookup).values_list("pk", flat=True)[:1000])
            if ids:
                return queryset.filter(pk__in=ids), False
        # Django's own terms and rows, found through the product search table (selectors.search_offers)
        # instead of Django's LIKE over every offer and its product.
        return selectors.search_offers(queryset, search_terms(search_term)), False

    @admin.display(description="SKU", ordering="product__sku")
    def sku(self, obj: Offer) -> str:
        return obj.product.sku

    @admin.display(description="Name", ordering="product__name")
    def name(self, obj: Offer) -> str:
        name = obj.product.name
        return name if len(name) <= 60 else name[:57] + "…"

    @admin.display(description="Price", ordering="sale_price")
    def price(self, obj: Offer) -> str:
        if obj.sale_price is None:
            return "—"
        return f"{obj.sale_price:.2f} {obj.currency}".strip()

    @admin.display(description="Validation", ordering="validation_status")
    def validation(self, obj: Offer) -> str:
        if obj.validation_status is None:
            return "—"
        return obj.validation_status_description or VALIDATION_STATUSES.get(obj.validation_status, "?")

    @admin.display(description="Product")
    def product_link(self, obj: Offer) -> SafeString:
        url = reverse("admin:emag_product_change", args=[obj.product_id])
        return format_html('<a href="{}">{}</a>', url, obj.product)

    @admin.display(description="Conditions")
    def sellable_explanation(self, obj: Offer) -> SafeString:
        offer_validation = obj.offer_validation_status_description or OFFER_VALIDATION_STATUSES.get(
            obj.offer_validation_status, ""
        )
        conditions = [
            ("Stock above 0", obj.stock_total > 0, f"stock {obj.stock_total}"),
            ("Status is active (1)", obj.status == Offer.Status.ACTIVE, f"{obj.status} {obj.get_status_display()}"),
            (
                "Offer validation is saleable (1)",
                obj.offer_validation_status == 1,
                f"{or_dash(obj.offer_validation_status)} {offer_validation}",
            ),
            (
                "Validation status is 3, 9, 11 or 12",
                obj.validation_status in SELLABLE_VALIDATION_STATUSES,
                f"{or_dash(obj.validation_status)} {self.validation(obj)}",
            ),
        ]
        verdict = "Sellable" if obj.is_sellable else "Not sellable"
        rows = format_html_join(
            "",
            '<tr><td><span class="mf-check mf-{}">{}</span></td><td>{}</td><td>{}</td></tr>',
            (("ok" if met else "error", "✔" if met else "✘", label, value) for label, met, value in conditions),
        )
        return format_html(
            '<p><strong class="mf-badge mf-{}">{}</strong></p>'
            '<table class="mf-table"><thead><tr><th></th><th>Condition</th><th>This offer</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            "ok" if obj.is_sellable else "error",
            verdict,
            rows,
        )

    @admin.display(description="Per warehouse")
    def stock_per_warehouse(self, obj: Offer) -> SafeString | str:
        entries = [entry for entry in obj.stock or [] if isinstance(entry, dict)]
        if not entries:
            return "No warehouse stock"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            ((entry.get("warehouse_id", "?"), entry.get("value", "?")) for entry in entries),
        )
        return format_html(
            '<table class="mf-table"><thead><tr><th>Warehouse</th><th>Stock</th></tr></thead><tbody>{}</tbody></table>',
            rows,
        )

    @admin.display(description="Same product")
    def sibling_offers(self, obj: Offer) -> SafeString | str:
        siblings = Offer.objects.filter(product_id=obj.product_id).exclude(pk=obj.pk).select_related("account")
        if not siblings:
            return "Not offered on another account"
        return format_html_join(
            ", ",
            '<a href="{}">{} (id {}, stock {}, {})</a>',
            (
                (
                    reverse("admin:emag_offer_change", args=[sibling.pk]),
                    sibling.account.name,
                    sibling.emag_id,
                    sibling.stock_total,
                    "sellable" if sibling.is_sellable else "not sellable",
                )
                for sibling in siblings
            ),
        )

    @admin.display(description="As eMAG last sent it")
    def raw_record(self, obj: Offer) -> SafeString:
        text = json.dumps(obj.raw, indent=2, ensure_ascii=False, sort_keys=True, default=str)
        return format_html('<pre class="mf-json">{}</pre>', text)

    def get_urls(self) -> list:
        return [
            path("export.csv", self.admin_site.admin_view(self.export_csv), name="emag_offer_export"),
            *super().get_urls(),
        ]

    def export_csv(self, request: HttpRequest) -> StreamingHttpResponse:
        """The list as filtered and searched on screen, every page of it, streamed row by row."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        queryset = changelist.get_queryset(request).values_list(*(source for _, source in CSV_COLUMNS))
        writer = csv.writer(_Echo())

        def rows() -> Iterator[str]:
            yield writer.writerow([header for header, _ in CSV_COLUMNS])
            for row in queryset.iterator(chunk_size=2000):
                yield writer.writerow([_csv_cell(value) for value in row])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="offers-{stamp}.csv"'
        return response
