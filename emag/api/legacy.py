"""The endpoints the clients of the system we replace already call: same paths, same keys.

Thin adapters over the selectors and services the /api/v1/emag/ resources use. One row of
`products/all` is one offer of one account, as it was there (`account_type` is main or fbe).
"""

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emag import selectors
from emag.api.fast import FastRepresentationMixin, values_rows
from emag.api.pagination import COUNT_CACHE_SECONDS, EXACT_COUNT_UP_TO, count_rows
from emag.api.permissions import HasActionPermission
from emag.api.serializers import SyncRunSerializer
from emag.api.views import start_all_syncs
from emag.models import Offer, SellerAccount, SyncRun
from magflow.api import ErrorSerializer

STATUS_NAMES = {
    Offer.Status.INACTIVE: "inactive",
    Offer.Status.ACTIVE: "active",
    Offer.Status.END_OF_LIFE: "end_of_life",
}
MAX_LIMIT = 10_000
ACCOUNT_STATES = ["connected", "syncing", "auth_failed", "disabled", "unknown"]
OVERALL_STATES = ["connected", "degraded", "no_accounts"]
DATETIME = serializers.DateTimeField()  # formats in the current time zone at each call, so one instance serves all


class LegacyListQuerySerializer(serializers.Serializer):
    account_type = serializers.ChoiceField(choices=["main", "fbe", "both"], default="both")
    limit = serializers.IntegerField(
        min_value=1,
        max_value=MAX_LIMIT,
        required=False,
        help_text="How many rows at most (default: max_pages_per_account × 100).",
    )
    offset = serializers.IntegerField(min_value=0, max_value=100_000_000, default=0)
    max_pages_per_account = serializers.IntegerField(
        min_value=1, max_value=100, default=25, help_text="Without `limit`: 100 rows per page, the old API's bound."
    )
    include_inactive = serializers.BooleanField(default=False, help_text="Also return inactive offers.")

    @property
    def row_limit(self) -> int:
        data = self.validated_data
        return data.get("limit") or data["max_pages_per_account"] * 100


class LegacyOfferRowSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    """One offer, in the keys the old clients read."""

    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    brand = serializers.CharField(source="product.brand")
    category_id = serializers.IntegerField(source="product.category_id", allow_null=True)
    account = serializers.CharField(source="account.name")
    account_type = serializers.CharField(source="account.kind", help_text="main or fbe.")
    price = serializers.SerializerMethodField()
    stock = serializers.IntegerField(source="stock_total")
    stock_quantity = serializers.IntegerField(source="stock_total")
    available_stock = serializers.IntegerField(source="stock_total")
    status = serializers.SerializerMethodField()
    status_code = serializers.IntegerField(source="status")
    is_active = serializers.SerializerMethodField()
    is_available = serializers.BooleanField(source="is_sellable")
    last_synced_at = serializers.SerializerMethodField()
    sync_status = serializers.SerializerMethodField()

    # What the get_* methods below read: a list reads its rows as columns (emag/api/fast.py).
    method_sources = ("sale_price", "status", "is_present", "last_seen_at", "account__last_full_sync_at")

    class Meta:
        model = Offer
        fields = [
            "id",
            "emag_id",
            "sku",
            "name",
            "brand",
            "category_id",
            "part_number_key",
            "account",
            "account_type",
            "price",
            "sale_price",
            "recommended_price",
            "currency",
            "stock",
            "stock_quantity",
            "available_stock",
            "status",
            "status_code",
            "is_active",
            "is_sellable",
            "is_available",
            "validation_status",
            "offer_validation_status",
            "buy_button_rank",
            "last_changed_at",
            "last_synced_at",
            "sync_status",
        ]
        read_only_fields = fields

    def get_price(self, offer: Offer) -> float:
        return float(offer.sale_price) if offer.sale_price is not None else 0.0

    def get_status(self, offer: Offer) -> str:
        return STATUS_NAMES.get(offer.status, str(offer.status))

    def get_is_active(self, offer: Offer) -> bool:
        return offer.status == Offer.Status.ACTIVE

    def get_last_synced_at(self, offer: Offer) -> str | None:
        # An unchanged offer is not rewritten, so a present one was also seen by its account's last full sync.
        seen = offer.last_seen_at
        full = offer.account.last_full_sync_at
        if offer.is_present and full and (seen is None or full > seen):
            seen = full
        return DATETIME.to_representation(seen) if seen else None

    def get_sync_status(self, offer: Offer) -> str:
        return "synced" if offer.is_present else "missing_on_emag"


class LegacyProductsSerializer(serializers.Serializer):
    products = LegacyOfferRowSerializer(many=True)
    total = serializers.IntegerField(
        help_text=f"Rows matching, before limit and offset. Exact up to {EXACT_COUNT_UP_TO:,}; above that, the "
        f"exact count of the same query taken at most {COUNT_CACHE_SECONDS} s earlier (see `total_is_exact`)."
    )
    total_is_exact = serializers.BooleanField(help_text="False when `total` may be a few seconds old.")
    total_count = serializers.IntegerField(help_text="Rows in this answer.")
    account_type = serializers.CharField()
    include_inactive = serializers.BooleanField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    timestamp = serializers.DateTimeField()


class LegacyOffersSerializer(LegacyProductsSerializer):
    products = None
    offers = LegacyOfferRowSerializer(many=True)


def _legacy_rows(query: LegacyListQuerySerializer) -> tuple[QuerySet[Offer], int, dict]:
    data = query.validated_data
    offers = selectors.offer_list()
    if data["account_type"] != "both":
        offers = offers.filter(account__kind=data["account_type"])
    if not data["include_inactive"]:
        offers = offers.filter(status=Offer.Status.ACTIVE)
    total, total_is_exact = count_rows(offers)
    limit, offset = query.row_limit, data["offset"]
    page = offers.order_by("account_id", "emag_id")[offset : offset + limit]
    meta = {
        "total": total,
        "total_is_exact": total_is_exact,
        "account_type": data["account_type"],
        "include_inactive": data["include_inactive"],
        "limit": limit,
        "offset": offset,
        "timestamp": timezone.now(),
    }
    return page, total, meta


LIST_PARAMETERS = LegacyListQuerySerializer


def _legacy_list_response(request: Request, key: str) -> Response:
    """The old list answer: the rows under `key` ("products" or "offers"), with the old totals."""
    query = LegacyListQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    rows, _, meta = _legacy_rows(query)
    items = LegacyOfferRowSerializer(values_rows(rows, LegacyOfferRowSerializer), many=True).data
    return Response({key: items, "total_count": len(items), **meta})


class LegacyProductsView(APIView):
    permission_classes = [HasActionPermission]
    required_permissions = {"get": ["emag.view_offer", "emag.view_product"]}

    @extend_schema(
        tags=["compatibility"],
        summary="Offers of the main and/or FBE accounts, as the system we replace listed its products",
        parameters=[LIST_PARAMETERS],
        responses=LegacyProductsSerializer,
    )
    def get(self, request: Request) -> Response:
        return _legacy_list_response(request, "products")


class LegacyOffersView(APIView):
    permission_classes = [HasActionPermission]
    required_permissions = {"get": ["emag.view_offer"]}

    @extend_schema(
        tags=["compatibility"],
        summary="Offers of the main and/or FBE accounts, in the old keys",
        parameters=[LIST_PARAMETERS],
        responses=LegacyOffersSerializer,
    )
    def get(self, request: Request) -> Response:
        return _legacy_list_response(request, "offers")


class SyncStatisticsSerializer(serializers.Serializer):
    total_syncs = serializers.IntegerField()
    successful_syncs = serializers.IntegerField()
    failed_syncs = serializers.IntegerField(help_text="Failed, partial or abandoned.")
    cancelled_syncs = serializers.IntegerField()
    active_syncs = serializers.IntegerField()
    success_rate = serializers.FloatField(help_text="Percent of decided runs that succeeded; 100 with none.")
    last_started_at = serializers.DateTimeField(allow_null=True)
    last_finished_at = serializers.DateTimeField(allow_null=True)


class AccountProductsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    active = serializers.IntegerField()
    sellable = serializers.IntegerField()
    out_of_stock = serializers.IntegerField()
    last_sync = serializers.DateTimeField(allow_null=True)


class RecentSyncSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.CharField()
    account_type = serializers.CharField()
    sync_type = serializers.CharField()
    status = serializers.CharField()
    trigger = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    items_processed = serializers.IntegerField()
    errors = serializers.IntegerField()


class AccountStatusSerializer(serializers.Serializer):
    account_type = serializers.CharField()
    status = serializers.ChoiceField(choices=ACCOUNT_STATES)
    is_active = serializers.BooleanField()
    products = AccountProductsSerializer()
    last_activity = serializers.DateTimeField(allow_null=True)
    connection_test = serializers.ChoiceField(choices=["success", "failed", "untested"])
    last_test_at = serializers.DateTimeField(allow_null=True)
    last_sync = RecentSyncSerializer(allow_null=True)
    sync_statistics = SyncStatisticsSerializer()


class SummarySerializer(serializers.Serializer):
    total_products = serializers.IntegerField()
    active_products = serializers.IntegerField()
    last_sync = serializers.DateTimeField(allow_null=True)


class LegacyStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OVERALL_STATES)
    sync_statistics = SyncStatisticsSerializer()
    accounts = serializers.DictField(child=AccountStatusSerializer(), help_text="By account name.")
    summary = SummarySerializer()
    recent_syncs = RecentSyncSerializer(many=True)
    timestamp = serializers.DateTimeField()


def _run_summary(run: SyncRun) -> dict:
    return {
        "id": run.pk,
        "account": run.account.name,
        "account_type": run.account.kind,
        "sync_type": run.kind,
        "status": run.status,
        "trigger": run.trigger,
        "started_at": run.started_at,
        "completed_at": run.finished_at,
        "items_processed": run.fetched,
        "errors": run.rejected + run.failed_pages,
    }


EMPTY_OFFER_COUNTS = {"total": 0, "active": 0, "sellable": 0, "out_of_stock": 0, "last_changed_at": None}


def _account_status(account: SellerAccount, last_run: SyncRun | None) -> str:
    if not account.is_active:
        return "disabled"
    if account.auth_failed_at:
        return "auth_failed"
    if last_run is not None and last_run.is_active:
        return "syncing"
    if account.last_test_ok or (last_run is not None and last_run.status in SyncRun.SUCCESS_STATUSES):
        return "connected"
    return "unknown"


class LegacyStatusView(APIView):
    permission_classes = [HasActionPermission]
    required_permissions = {"get": ["emag.view_selleraccount", "emag.view_syncrun", "emag.view_offer"]}

    @extend_schema(
        tags=["compatibility"],
        summary="Sync statistics (all time) and the state of every seller account",
        responses=LegacyStatusSerializer,
    )
    def get(self, request: Request) -> Response:
        accounts = list(selectors.account_list())
        offer_counts = selectors.offer_counts_by_account()
        stats_by_account = selectors.sync_statistics_by_account()
        latest = selectors.latest_runs_by_account([account.pk for account in accounts])
        empty_stats = selectors.empty_sync_statistics()
        body_accounts = {}
        for account in accounts:
            counts = offer_counts.get(account.pk, EMPTY_OFFER_COUNTS)
            last_run = latest.get(account.pk)
            connection = {True: "success", False: "failed", None: "untested"}[account.last_test_ok]
            body_accounts[account.name] = {
                "account_type": account.kind,
                "status": _account_status(account, last_run),
                "is_active": account.is_active,
                "products": {
                    "total": counts["total"],
                    "active": counts["active"],
                    "sellable": counts["sellable"],
                    "out_of_stock": counts["out_of_stock"],
                    "last_sync": account.last_sync_at,
                },
                "last_activity": account.last_sync_at,
                "connection_test": connection,
                "last_test_at": account.last_test_at,
                "last_sync": _run_summary(last_run) if last_run else None,
                "sync_statistics": stats_by_account.get(account.pk, empty_stats),
            }
        active = [body_accounts[account.name] for account in accounts if account.is_active]
        if not active:
            overall = "no_accounts"
        elif all(item["status"] in ("connected", "syncing") for item in active):
            overall = "connected"
        else:
            overall = "degraded"
        sync_times = [account.last_sync_at for account in accounts if account.last_sync_at]
        body = {
            "status": overall,
            "sync_statistics": selectors.sync_statistics(),
            "accounts": body_accounts,
            "summary": {
                "total_products": sum(item["products"]["total"] for item in body_accounts.values()),
                "active_products": sum(item["products"]["active"] for item in body_accounts.values()),
                "last_sync": max(sync_times) if sync_times else None,
            },
            "recent_syncs": [_run_summary(run) for run in selectors.sync_run_list()[:10]],
            "timestamp": timezone.now(),
        }
        return Response(LegacyStatusSerializer(body).data)


class LegacySyncAllSerializer(serializers.Serializer):
    max_pages_per_account = serializers.IntegerField(
        min_value=1, max_value=100_000, required=False, allow_null=True, help_text="Stop each account after N pages."
    )
    delay_between_requests = serializers.FloatField(
        min_value=0,
        max_value=60,
        required=False,
        help_text="Accepted for compatibility; pacing is the shared per-account rate limiter's job.",
    )
    include_inactive = serializers.BooleanField(
        required=False, default=False, help_text="Accepted for compatibility; every offer, active or not, is read."
    )


class LegacySyncAllResultSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["accepted"])
    message = serializers.CharField()
    runs = SyncRunSerializer(many=True)
    already_running = SyncRunSerializer(many=True)
    main_account = SyncRunSerializer(allow_null=True, help_text="The run of the (first) main account.")
    fbe_account = SyncRunSerializer(allow_null=True, help_text="The run of the (first) FBE account.")
    sync_timestamp = serializers.DateTimeField()


class LegacySyncAllProductsView(APIView):
    permission_classes = [HasActionPermission]
    required_permissions = {"post": ["emag.view_syncrun", "emag.start_sync"]}

    @extend_schema(
        tags=["compatibility"],
        summary="Start a sync of every active account in the background (operators)",
        request=LegacySyncAllSerializer,
        responses={
            202: LegacySyncAllResultSerializer,
            409: OpenApiResponse(ErrorSerializer, description="Every account's sync is already running."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = LegacySyncAllSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        parameters = {}
        if serializer.validated_data.get("max_pages_per_account"):
            parameters["max_pages"] = serializer.validated_data["max_pages_per_account"]
        queued, running = start_all_syncs(parameters)
        by_kind = {}
        for run in [*queued, *running]:
            by_kind.setdefault(run.account.kind, run)
        body = {
            "status": "accepted",
            "message": f"Queued {len(queued)} sync(s); {len(running)} already running.",
            "runs": queued,
            "already_running": running,
            "main_account": by_kind.get(SellerAccount.Kind.MAIN),
            "fbe_account": by_kind.get(SellerAccount.Kind.FBE),
            "sync_timestamp": timezone.now(),
        }
        return Response(LegacySyncAllResultSerializer(body).data, status=status.HTTP_202_ACCEPTED)
