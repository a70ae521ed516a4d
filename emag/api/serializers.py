"""Serializers of the /api/v1/emag/ resources. Everything eMAG owns is read-only."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from emag.api.fast import FastRepresentationMixin
from emag.models import Offer, Product, SellerAccount, SyncError, SyncRun


class SellerAccountSerializer(serializers.ModelSerializer):
    """A seller account. The password is write-only; the API username is shown only to admins."""

    password = serializers.CharField(
        write_only=True,
        required=False,
        max_length=512,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="The eMAG API password. Write-only: stored encrypted, never shown.",
    )
    username = serializers.CharField(
        max_length=254, required=False, help_text="The eMAG API username (shown only to users who may change accounts)."
    )
    has_password = serializers.BooleanField(read_only=True)

    class Meta:
        model = SellerAccount
        fields = [
            "name",
            "kind",
            "platform",
            "base_url",
            "username",
            "password",
            "has_password",
            "is_active",
            "sync_interval_minutes",
            "last_test_at",
            "last_test_ok",
            "last_test_message",
            "auth_failed_at",
            "last_sync_at",
            "last_sync_status",
            "last_full_sync_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "last_test_at",
            "last_test_ok",
            "last_test_message",
            "auth_failed_at",
            "last_sync_at",
            "last_sync_status",
            "last_full_sync_at",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, instance: SellerAccount) -> dict:
        data = super().to_representation(instance)
        request = self.context.get("request")
        if not (request and request.user.has_perm("emag.change_selleraccount")):
            data.pop("username", None)
        return data

    def validate_name(self, value: str) -> str:
        if self.instance is not None and value != self.instance.name:
            raise serializers.ValidationError("An account's name cannot change: offers and clients refer to it.")
        return value

    def validate_sync_interval_minutes(self, value: int) -> int:
        if not 5 <= value <= 7 * 24 * 60:
            raise serializers.ValidationError("Between 5 minutes and 7 days (10080 minutes).")
        return value

    def validate(self, attrs: dict) -> dict:
        account = SellerAccount(
            platform=attrs.get("platform", getattr(self.instance, "platform", SellerAccount.Platform.RO)),
            base_url=attrs.get("base_url", getattr(self.instance, "base_url", "")),
        )
        try:
            account.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        if self.instance is None:
            missing = {field: ["This field is required."] for field in ("username", "password") if not attrs.get(field)}
            if missing:
                raise serializers.ValidationError(missing)
        return attrs

    def create(self, validated_data: dict) -> SellerAccount:
        password = validated_data.pop("password")
        account = SellerAccount(**validated_data)
        account.set_password(password)
        account.save()
        return account

    def update(self, instance: SellerAccount, validated_data: dict) -> SellerAccount:
        password = validated_data.pop("password", None)
        for field, value in validated_data.items():
            setattr(instance, field, value)
        if password:
            instance.set_password(password)
            # New credentials deserve a new chance: the schedule skips accounts eMAG refused.
            instance.auth_failed_at = None
        instance.save()
        return instance


class ConnectionTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    kind = serializers.CharField(help_text="ok, or the kind of failure (auth, ip_not_allowed, timeout, ...).")
    account = SellerAccountSerializer()


class ProductSummarySerializer(FastRepresentationMixin, serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "sku", "part_number_key", "name", "brand", "eans", "category_id"]
        read_only_fields = fields


class OfferSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", read_only=True)
    account_kind = serializers.CharField(source="account.kind", read_only=True)
    product = ProductSummarySerializer(read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Offer
        fields = [
            "id",
            "account",
            "account_kind",
            "emag_id",
            "emag_offer_id",
            "part_number_key",
            "product",
            "sale_price",
            "recommended_price",
            "min_sale_price",
            "max_sale_price",
            "best_offer_sale_price",
            "currency",
            "vat_id",
            "status",
            "status_label",
            "is_sellable",
            "stock_total",
            "general_stock",
            "estimated_stock",
            "handling_time_days",
            "validation_status",
            "validation_status_description",
            "offer_validation_status",
            "offer_validation_status_description",
            "buy_button_rank",
            "number_of_offers",
            "genius_eligibility",
            "is_present",
            "first_seen_at",
            "last_changed_at",
            "last_seen_at",
        ]
        read_only_fields = fields


class OfferDetailSerializer(OfferSerializer):
    class Meta(OfferSerializer.Meta):
        fields = [
            *OfferSerializer.Meta.fields,
            "best_offer_recommended_price",
            "stock",
            "handling_time",
            "doc_errors",
            "ownership",
            "genius_eligibility_type",
            "genius_computed",
            "raw",
        ]
        read_only_fields = fields


class ProductOfferSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    """One of a product's offers, as the product lists them."""

    account = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Offer
        fields = [
            "id",
            "account",
            "emag_id",
            "sale_price",
            "currency",
            "status",
            "is_sellable",
            "stock_total",
            "validation_status",
            "buy_button_rank",
            "is_present",
            "last_changed_at",
        ]
        read_only_fields = fields


class ProductSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    offers = ProductOfferSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "sku",
            "part_number_key",
            "name",
            "brand",
            "url",
            "category_id",
            "vendor_category_id",
            "warranty",
            "eans",
            "created_at",
            "updated_at",
            "offers",
        ]
        read_only_fields = fields


class ProductDetailSerializer(ProductSerializer):
    class Meta(ProductSerializer.Meta):
        fields = [*ProductSerializer.Meta.fields, "description", "images", "characteristics", "family"]
        read_only_fields = fields


class SyncRunSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", read_only=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "account",
            "kind",
            "trigger",
            "status",
            "is_active",
            "parameters",
            "is_dry_run",
            "resumed_from",
            "attempts",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "duration_seconds",
            "expected_total",
            "pages_done",
            "last_committed_page",
            "fetched",
            "created",
            "updated",
            "unchanged",
            "rejected",
            "deactivated",
            "failed_pages",
            "requests_made",
            "throttled",
            "retries",
            "rate_limit_wait_seconds",
            "error_code",
            "error_message",
        ]
        read_only_fields = fields


class SyncErrorSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    class Meta:
        model = SyncError
        fields = ["id", "page", "index", "emag_id", "sku", "reason_code", "message", "record", "created_at"]
        read_only_fields = fields


class StartSyncSerializer(serializers.Serializer):
    account = serializers.SlugRelatedField(
        slug_field="name",
        queryset=SellerAccount.objects.all(),
        required=False,
        allow_null=True,
        help_text="The account to sync; leave it out to sync every active account.",
    )
    max_pages = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=100_000, help_text="Stop after this many pages."
    )

    def validate_account(self, account: SellerAccount | None) -> SellerAccount | None:
        if account is not None and not account.is_active:
            raise serializers.ValidationError(f"The account {account.name} is disabled; enable it first.")
        return account


class StartSyncResultSerializer(serializers.Serializer):
    runs = SyncRunSerializer(many=True, help_text="The runs queued now.")
    already_running = SyncRunSerializer(many=True, help_text="Accounts skipped because a sync of theirs is running.")
