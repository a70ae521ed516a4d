"""The staff back-office: seller accounts, offers, products and sync runs.

Everything eMAG owns (offers, products, runs) is read-only here; staff act through the actions
(test a connection, sync now, cancel a run), which call the same services as the API.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from emag.dashboard import SELLABLE_VALIDATION_STATUSES, run_progress
from emag.models import ApiCall, Offer, Product, SellerAccount, SyncError, SyncRun

admin.site.site_header = "MagFlow back-office"
admin.site.site_title = "MagFlow"
admin.site.index_title = "Dashboard"

LOW_STOCK = 5
SYNC_ERRORS_PER_PAGE = 50
VALIDATION_STATUSES = {
    0: "Draft",
    1: "Awaiting marketplace validation",
    2: "Awaiting brand validation",
    3: "Awaiting EAN validation",
    4: "Awaiting documentation validation",
    5: "Brand rejected",
    6: "EAN rejected",
    8: "Documentation rejected",
    9: "Documentation approved",
    10: "Blocked",
    11: "Documentation update pending",
    12: "Update rejected",
}
OFFER_VALIDATION_STATUSES = {1: "Saleable", 2: "Invalid price"}


def _when(value) -> str:
    return date_format(timezone.localtime(value), "j M Y H:i") if value else "—"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes} min {seconds:02d} s"


STATUS_BADGES = {
    "completed": "ok",
    "completed_with_rejections": "warning",
    "partial": "warning",
    "cancelled": "warning",
    "failed": "error",
    "abandoned": "error",
    "queued": "running",
    "running": "running",
}


def status_badge(run: SyncRun) -> SafeString:
    level = STATUS_BADGES.get(run.status, "idle")
    return format_html('<span class="mf-badge mf-{}">{}</span>', level, run.get_status_display())


# --- Seller accounts ------------------------------------------------------------------------------


class SellerAccountForm(forms.ModelForm):
    # Write-only: the stored password is never sent back to the browser, not even masked.
    password = forms.CharField(
        label="API password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep the stored password.",
    )

    base_url = forms.URLField(
        label="Base URL",
        required=False,
        max_length=255,
        assume_scheme="https",
        help_text="Only for a custom platform, such as the built-in sandbox.",
    )

    class Meta:
        model = SellerAccount
        fields = [
            "name",
            "kind",
            "platform",
            "base_url",
            "username",
            "password",
            "is_active",
            "sync_interval_minutes",
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        if not self.instance.has_password and not cleaned.get("password"):
            self.add_error("password", "An API password is required for a new account.")
        if cleaned.get("platform") == SellerAccount.Platform.CUSTOM and not cleaned.get("base_url"):
            self.add_error("base_url", "A custom platform needs its base URL.")
        return cleaned

    def save(self, commit: bool = True) -> SellerAccount:
        account = super().save(commit=False)
        if self.cleaned_data.get("password"):
            account.set_password(self.cleaned_data["password"])
        if commit:
            account.save()
        return account


@admin.register(SellerAccount)
class SellerAccountAdmin(admin.ModelAdmin):
    form = SellerAccountForm
    list_display = ["name", "kind", "platform", "is_active", "last_sync", "last_test"]
    list_filter = ["kind", "platform", "is_active"]
    search_fields = ["name", "username"]
    actions = ["test_connection", "sync_now"]
    readonly_fields = ["last_sync", "last_test", "auth_failed_at", "last_full_sync_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "is_active", "sync_interval_minutes"]}),
        ("eMAG API", {"fields": ["platform", "base_url", "username", "password"]}),
        ("State", {"fields": ["last_sync", "last_full_sync_at", "last_test", "auth_failed_at"]}),
        ("Record", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: SellerAccount | None = None) -> list:
        if not self.has_change_permission(request, obj):
            # The read-only page lists fields as they are; the write-only password is not one of them.
            return [
                (name, {**options, "fields": [f for f in options["fields"] if f != "password"]})
                for name, options in self.fieldsets
            ]
        return self.fieldsets

    @admin.display(description="Last sync", ordering="last_sync_at")
    def last_sync(self, obj: SellerAccount) -> str:
        if not obj.last_sync_at:
            return "never"
        return f"{obj.last_sync_status or '?'}, {_when(obj.last_sync_at)}"

    @admin.display(description="Last test", ordering="last_test_at")
    def last_test(self, obj: SellerAccount) -> SafeString | str:
        if not obj.last_test_at:
            return "never"
        level = "ok" if obj.last_test_ok else "error"
        return format_html(
            '<span class="mf-badge mf-{}" title="{}">{}</span> {}',
            level,
            obj.last_test_message,
            "OK" if obj.last_test_ok else "failed",
            _when(obj.last_test_at),
        )

    def has_test_connection_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("emag.test_connection")

    def has_start_sync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("emag.start_sync")

    @admin.action(description="Test connection", permissions=["test_connection"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[SellerAccount]) -> None:
        from emag.client import EmagClient

        for account in queryset:
            # The client records the verdict on the account (last test, and clears a refused login on success).
            with EmagClient(account) as client:
                result = client.test_connection()
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, f"{account.name}: {result.message}", level)

    @admin.action(description="Sync now", permissions=["start_sync"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[SellerAccount]) -> None:
        from emag.services import SyncAlreadyRunning, start_sync

        for account in queryset:
            if not account.is_active:
                self.message_user(request, f"{account.name} is inactive; activate it to sync.", messages.WARNING)
                continue
            try:
                run = start_sync(account, trigger=SyncRun.Trigger.ADMIN)
            except SyncAlreadyRunning as exc:
                self.message_user(
                    request,
                    f"{account.name} is already syncing (run #{exc.run.pk}, {exc.run.get_status_display().lower()}); "
                    "no new sync was started.",
                    messages.WARNING,
                )
                continue
            url = reverse("admin:emag_syncrun_change", args=[run.pk])
            self.message_user(
                request,
                format_html(
                    '{}: sync <a href="{}">#{}</a> queued; the worker runs it in the background.',
                    account.name,
                    url,
                    run.pk,
                ),
                messages.SUCCESS,
            )


# --- Offers ---------------------------------------------------------------------------------------


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


class EstimatedCountPaginator(Paginator):
    """Counts exactly, except an unfiltered list of a huge PostgreSQL table, where the planner's estimate will do.

    A COUNT(*) over every offer reads the whole table on each page view; the page links only need
    the order of magnitude.
    """

    ESTIMATE_ABOVE = 200_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and not queryset.query.where and not queryset.query.is_sliced:
            estimate = _estimated_rows(queryset)
            if estimate is not None and estimate > self.ESTIMATE_ABOVE:
                return estimate
        return super().count

    DEEP_OFFSET = 5_000

    def page(self, number: int | str):
        """A deep page finds its ids on the ordering index alone, then loads just those rows with their joins.

        OFFSET over the joined rows makes the database join every skipped row too.
        """
        queryset = self.object_list
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if not isinstance(queryset, QuerySet) or bottom < self.DEEP_OFFSET:
            return super().page(number)
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = list(queryset.values_list("pk", flat=True)[bottom:top])
        return self._get_page(queryset.filter(pk__in=ids), number, self)


def _estimated_rows(queryset: QuerySet) -> int | None:
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table]
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] and row[0] > 0 else None


class ReadOnlyAdmin(admin.ModelAdmin):
    """eMAG owns these rows: staff read them, only a sync writes them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
    search_fields = ["product__sku", "product__name", "product__ean_text", "part_number_key"]
    search_help_text = "An exact SKU, PNK, EAN or eMAG id, or any part of a SKU, name or EAN."
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
            lookups = [{"product__sku": term}, {"part_number_key": term.upper()}, {"product__ean_text": term}]
            if term.isdigit() and int(term) < 2**63:
                lookups.append({"emag_id": int(term)})
            ids = set()
            for lookup in lookups:
                ids.update(queryset.filter(**lookup).values_list("pk", flat=True)[:1000])
            if ids:
                return queryset.filter(pk__in=ids), False
        return super().get_search_results(request, queryset, search_term)

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
                f"{_or_dash(obj.offer_validation_status)} {offer_validation}",
            ),
            (
                "Validation status is 3, 9, 11 or 12",
                obj.validation_status in SELLABLE_VALIDATION_STATUSES,
                f"{_or_dash(obj.validation_status)} {self.validation(obj)}",
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


def _or_dash(value: Any) -> Any:
    return "—" if value is None else value


# --- Products -------------------------------------------------------------------------------------


OFFER_COMPARISON_ROWS = [
    ("eMAG id", lambda offer: offer.emag_id),
    ("Price", lambda offer: f"{offer.sale_price:.2f} {offer.currency}" if offer.sale_price is not None else "—"),
    ("Stock", lambda offer: offer.stock_total),
    ("Status", lambda offer: offer.get_status_display()),
    ("Sellable", lambda offer: "yes" if offer.is_sellable else "no"),
    ("Validation", lambda offer: offer.validation_status_description or _or_dash(offer.validation_status)),
    (
        "Offer validation",
        lambda offer: offer.offer_validation_status_description or _or_dash(offer.offer_validation_status),
    ),
    ("Buy-button rank", lambda offer: _or_dash(offer.buy_button_rank)),
    ("Sellers on the product", lambda offer: _or_dash(offer.number_of_offers)),
    ("On eMAG", lambda offer: "yes" if offer.is_present else "no (gone at the last full sync)"),
    ("Last changed", lambda offer: _when(offer.last_changed_at)),
]


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ["sku", "name", "brand", "part_number_key", "updated_at"]
    search_fields = ["sku", "name", "ean_text", "part_number_key"]
    search_help_text = "SKU, name, EAN or PNK."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["sku", "name", "brand", "part_number_key", "ean_text", "category_id", "warranty", "url"]}),
        ("Offers on each account", {"fields": ["offers_side_by_side"]}),
        ("Content", {"fields": ["description", "images", "characteristics", "family"], "classes": ["collapse"]}),
    ]
    readonly_fields = ["offers_side_by_side"]

    @admin.display(description="Side by side")
    def offers_side_by_side(self, obj: Product) -> SafeString | str:
        offers = list(obj.offers.select_related("account").order_by("account__name"))
        if not offers:
            return "No offer on any account"
        header = format_html_join(
            "",
            '<th><a href="{}">{}</a> <small>{}</small></th>',
            (
                (
                    reverse("admin:emag_offer_change", args=[offer.pk]),
                    offer.account.name,
                    offer.account.get_kind_display(),
                )
                for offer in offers
            ),
        )
        body = format_html_join(
            "",
            "<tr><th>{}</th>{}</tr>",
            (
                (label, format_html_join("", "<td>{}</td>", ((read(offer),) for offer in offers)))
                for label, read in OFFER_COMPARISON_ROWS
            ),
        )
        return format_html(
            '<table class="mf-table mf-compare"><thead><tr><th></th>{}</tr></thead><tbody>{}</tbody></table>',
            header,
            body,
        )


# --- Sync runs ------------------------------------------------------------------------------------


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "account",
        "kind",
        "trigger",
        "status_label",
        "created_at",
        "duration",
        "progress_label",
        "created",
        "updated",
        "unchanged",
        "rejected",
        "deactivated",
    ]
    list_filter = ["account", "status", "trigger", "kind"]
    list_select_related = ["account"]
    ordering = ["-created_at", "-id"]
    actions = ["cancel_runs"]
    change_form_template = "admin/emag/syncrun/change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "account",
                    "kind",
                    "trigger",
                    "status_label",
                    "is_full_read",
                    "is_dry_run",
                    "resumed_from",
                    "parameters",
                ]
            },
        ),
        ("Progress", {"fields": ["progress_detail"]}),
        (
            "Counts",
            {
                "fields": [
                    "expected_total",
                    "fetched",
                    "created",
                    "updated",
                    "unchanged",
                    "rejected",
                    "deactivated",
                    "failed_pages",
                ]
            },
        ),
        (
            "Timings",
            {
                "fields": [
                    "created_at",
                    "started_at",
                    "finished_at",
                    "heartbeat_at",
                    "duration",
                    "rate_limit_wait_seconds",
                ]
            },
        ),
        ("eMAG calls", {"fields": ["requests_made", "retries", "throttled"]}),
        ("Worker", {"fields": ["task_id", "worker", "attempts", "cancel_requested"]}),
        ("Error", {"fields": ["error_code", "error_message"]}),
    ]

    @admin.display(description="Status", ordering="status")
    def status_label(self, obj: SyncRun) -> SafeString:
        return status_badge(obj)

    @admin.display(description="Duration")
    def duration(self, obj: SyncRun) -> str:
        return _seconds(obj.duration_seconds)

    @admin.display(description="Progress")
    def progress_label(self, obj: SyncRun) -> str:
        if obj.expected_total:
            return f"{obj.fetched}/{obj.expected_total}"
        return str(obj.fetched)

    @admin.display(description="Progress")
    def progress_detail(self, obj: SyncRun) -> SafeString:
        progress = run_progress(obj)
        pages = f"{progress.pages_done}" + (f" of {progress.pages_expected}" if progress.pages_expected else "")
        offers = f"{progress.fetched}" + (
            f" of {progress.expected_total}" if progress.expected_total is not None else ""
        )
        rate = f"{progress.rate_per_second:.0f} offers/s" if progress.rate_per_second else "—"
        left = _seconds(progress.seconds_left) if obj.is_active else "finished"
        return format_html(
            '<progress max="100" value="{}"></progress> {}%<br>Pages {} · offers {} · {} · time left {}',
            progress.percent or 0,
            _or_dash(progress.percent),
            pages,
            offers,
            rate,
            left,
        )

    def has_cancel_sync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("emag.cancel_sync")

    @admin.action(description="Cancel the selected running syncs", permissions=["cancel_sync"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[SyncRun]) -> None:
        from emag.services import cancel_sync

        for run in queryset.select_related("account"):
            if not run.is_active:
                self.message_user(
                    request, f"Run #{run.pk} has already {run.get_status_display().lower()}.", messages.INFO
                )
                continue
            cancel_sync(run)
            self.message_user(request, f"Run #{run.pk} of {run.account.name}: cancel requested.", messages.SUCCESS)

    def get_urls(self) -> list:
        return [
            path("<int:pk>/cancel/", self.admin_site.admin_view(self.cancel_view), name="emag_syncrun_cancel"),
            *super().get_urls(),
        ]

    def cancel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return redirect("admin:emag_syncrun_change", pk)
        if not self.has_cancel_sync_permission(request):
            raise PermissionDenied
        run = get_object_or_404(SyncRun, pk=pk)
        self.cancel_runs(request, SyncRun.objects.filter(pk=run.pk))
        return redirect("admin:emag_syncrun_change", pk)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None):
        extra_context = extra_context or {}
        run = SyncRun.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        if run is not None:
            errors = SyncError.objects.filter(run=run).order_by("page", "index", "id")
            paginator = Paginator(errors, SYNC_ERRORS_PER_PAGE)
            extra_context["errors_page"] = paginator.get_page(request.GET.get("errors_page"))
            extra_context["can_cancel"] = run.is_active and self.has_cancel_sync_permission(request)
            extra_context["is_active_run"] = run.is_active
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(SyncError)
class SyncErrorAdmin(ReadOnlyAdmin):
    list_display = ["run", "page", "index", "emag_id", "sku", "reason_code", "short_message", "created_at"]
    list_filter = ["reason_code"]
    list_select_related = ["run"]
    search_fields = ["sku", "reason_code", "=run__id"]
    show_full_result_count = False

    @admin.display(description="Message")
    def short_message(self, obj: SyncError) -> str:
        return obj.message if len(obj.message) <= 100 else obj.message[:97] + "…"


@admin.register(ApiCall)
class ApiCallAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "account",
        "route",
        "status_code",
        "outcome",
        "duration_ms",
        "attempt",
        "is_throttled",
    ]
    list_filter = ["account", "outcome", "is_throttled", "route"]
    list_select_related = ["account"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
