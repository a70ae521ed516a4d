"""Sync runs (read-only, with their rejected records and a cancel action), sync errors and eMAG calls."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils.html import format_html
from django.utils.safestring import SafeString

from emag.admin.common import (
    SYNC_ERRORS_PER_PAGE,
    EstimatedCountPaginator,
    ReadOnlyAdmin,
    format_seconds,
    or_dash,
    status_badge,
)
from emag.dashboard import run_progress
from emag.models import ApiCall, SyncError, SyncRun


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
        return format_seconds(obj.duration_seconds)

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
        left = format_seconds(progress.seconds_left) if obj.is_active else "finished"
        return format_html(
            '<progress max="100" value="{}"></progress> {}%<br>Pages {} · offers {} · {} · time left {}',
            progress.percent or 0,
            or_dash(progress.percent),
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
