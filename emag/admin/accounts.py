"""Seller accounts: a write-only password, and the "Test connection" and "Sync now" actions."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from emag.admin.common import format_when
from emag.models import SellerAccount, SyncRun


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.has_password:
            self.fields["password"].help_text = (
                "Write-only: a password is stored and is never shown. Type a new one to replace it, "
                "or leave empty to keep it."
            )
        else:
            self.fields["password"].help_text = "Write-only: it is stored encrypted and never shown again."

    def clean(self) -> dict:
        cleaned = super().clean()
        if not self.instance.has_password and not cleaned.get("password"):
            self.add_error("password", "An API password is required for a new account.")
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
        return f"{obj.last_sync_status or '?'}, {format_when(obj.last_sync_at)}"

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
            format_when(obj.last_test_at),
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
