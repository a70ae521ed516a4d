"""Helpers shared by the MagFlow admin pages: status tables, badges, the read-only base and the paginator."""

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import smart_split, unescape_string_literal

from emag.models import SyncRun

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


def search_terms(search_term: str) -> list[str]:
    """The terms Django's admin search would look for: words, or "quoted phrases" without their quotes."""
    terms = [
        unescape_string_literal(bit) if bit.startswith(('"', "'")) and bit[0] == bit[-1] else bit
        for bit in smart_split(search_term)
    ]
    return [term for term in terms if term]


def format_when(value) -> str:
    return date_format(timezone.localtime(value), "j M Y H:i") if value else "—"


def format_seconds(value: float | None) -> str:
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


def or_dash(value: Any) -> Any:
    return "—" if value is None else value
