from django.contrib import admin
from django.http import HttpRequest

from monitoring.models import ApiCallRollup, Backup


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows MagFlow writes itself: staff look, nobody edits."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Backup)
class BackupAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "status", "trigger", "file_name", "size_bytes", "created_by", "deleted_at"]
    list_filter = ["status", "trigger"]
    readonly_fields = [field.name for field in Backup._meta.fields]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ApiCallRollup)
class ApiCallRollupAdmin(ReadOnlyAdmin):
    list_display = ["hour", "account", "route", "bucket", "requests", "errors", "throttled", "duration_ms_max"]
    list_filter = ["bucket", "account"]
    date_hierarchy = "hour"

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
