"""The /api/v1/emag/ resources: seller accounts, products, offers, sync runs."""

import io
import logging

from django.core.management import call_command
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response

from emag import selectors
from emag.api import filters
from emag.api.fast import values_rows
from emag.api.pagination import LargeListPagination
from emag.api.permissions import HasActionPermission
from emag.api.serializers import (
    ConnectionTestSerializer,
    OfferDetailSerializer,
    OfferSerializer,
    ProductDetailSerializer,
    ProductSerializer,
    SellerAccountSerializer,
    StartSyncResultSerializer,
    StartSyncSerializer,
    SyncErrorSerializer,
    SyncRunSerializer,
)
from emag.client import EmagClient
from emag.models import Offer, Product, SellerAccount, SyncError, SyncRun
from emag.services import InvalidSyncParameters, SyncAlreadyRunning, cancel_sync, start_sync, start_syncs
from magflow.api import ErrorSerializer
from magflow.exceptions import Conflict

logger = logging.getLogger(__name__)

VIEW_ACCOUNT = "emag.view_selleraccount"


def refresh_schedules() -> None:
    """Bring the django-q2 schedules in step with the accounts (a new account, an interval, on or off).

    The account change is saved whatever happens here; a failure is logged for staff, who can
    run `manage.py setup_schedules` themselves.
    """
    try:
        call_command("setup_schedules", stdout=io.StringIO())
    except Exception:
        logger.exception("The schedules could not be updated after an account change; run setup_schedules.")


def _conflict_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


@extend_schema_view(
    list=extend_schema(summary="List seller accounts"),
    retrieve=extend_schema(summary="A seller account"),
    create=extend_schema(summary="Add a seller account (admins)"),
    update=extend_schema(summary="Change a seller account (admins)"),
    partial_update=extend_schema(summary="Change some fields of a seller account (admins)"),
)
@extend_schema(tags=["accounts"])
class SellerAccountViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """eMAG seller accounts, addressed by name. Accounts are disabled, never deleted: offers refer to them."""

    serializer_class = SellerAccountSerializer
    permission_classes = [HasActionPermission]
    lookup_field = "name"
    lookup_value_converter = "slug"
    filter_backends = [OrderingFilter]
    ordering_fields = ["name", "kind", "created_at", "last_sync_at"]
    ordering = ["name"]
    required_permissions = {
        "list": [VIEW_ACCOUNT],
        "retrieve": [VIEW_ACCOUNT],
        "create": ["emag.add_selleraccount"],
        "update": ["emag.change_selleraccount"],
        "partial_update": ["emag.change_selleraccount"],
        "disable": ["emag.change_selleraccount"],
        "enable": ["emag.change_selleraccount"],
        "test": [VIEW_ACCOUNT, "emag.test_connection"],
    }

    def get_queryset(self) -> QuerySet[SellerAccount]:
        return selectors.account_list()

    def perform_create(self, serializer: SellerAccountSerializer) -> None:
        serializer.save()
        refresh_schedules()

    def perform_update(self, serializer: SellerAccountSerializer) -> None:
        serializer.save()
        refresh_schedules()

    def _set_active(self, is_active: bool) -> Response:
        account = self.get_object()
        account.is_active = is_active
        account.save(update_fields=["is_active", "updated_at"])
        refresh_schedules()
        return Response(self.get_serializer(account).data)

    @extend_schema(summary="Disable a seller account (admins): no more syncs", request=None)
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, name: str | None = None) -> Response:
        return self._set_active(False)

    @extend_schema(summary="Enable a seller account again (admins)", request=None)
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, name: str | None = None) -> Response:
        return self._set_active(True)

    @extend_schema(
        summary="Test the account's connection and credentials with eMAG (operators)",
        request=None,
        responses={200: ConnectionTestSerializer},
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, name: str | None = None) -> Response:
        account = self.get_object()
        result = EmagClient(account).test_connection()  # records the verdict on the account
        account.refresh_from_db()
        body = {
            "ok": result.ok,
            "message": result.message,
            "kind": result.kind,
            "account": self.get_serializer(account).data,
        }
        return Response(body)


@extend_schema_view(
    list=extend_schema(summary="List offers (paginated, filterable, searchable)"),
    retrieve=extend_schema(summary="An offer, with its stock per warehouse and raw eMAG record"),
)
@extend_schema(tags=["offers"])
class OfferViewSet(viewsets.ReadOnlyModelViewSet):
    """Offers of every account. `search` looks in SKU, name, EAN and PNK."""

    permission_classes = [HasActionPermission]
    required_permissions = {"list": ["emag.view_offer"], "retrieve": ["emag.view_offer"]}
    filterset_class = filters.OfferFilter
    filter_backends = [DjangoFilterBackend, filters.OfferSearchFilter, OrderingFilter]
    # What `search` looks in (OfferSearchFilter's fields; DRF's schema describes the parameter from them).
    search_fields = list(selectors.OFFER_SEARCH_FIELDS)
    pagination_class = LargeListPagination
    ordering_fields = [
        "id",
        "emag_id",
        "sale_price",
        "stock_total",
        "status",
        "validation_status",
        "buy_button_rank",
        "last_changed_at",
        "last_seen_at",
        "product__sku",
        "product__name",
    ]
    # The unique (account, emag_id) index serves this order without a sort, even at 100,000 offers.
    ordering = ["account_id", "emag_id"]
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[Offer]:
        return selectors.offer_list(with_details=self.action == "retrieve")

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return OfferDetailSerializer if self.action == "retrieve" else OfferSerializer

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        # ListModelMixin.list, reading the page as the columns the serializer shows (emag/api/fast.py).
        offers = values_rows(self.filter_queryset(self.get_queryset()), self.get_serializer_class())
        page = self.paginate_queryset(offers)
        if page is None:
            return Response(self.get_serializer(offers, many=True).data)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema_view(
    list=extend_schema(summary="List products with their offers (paginated, filterable, searchable)"),
    retrieve=extend_schema(summary="A product with its offers on every account"),
)
@extend_schema(tags=["products"])
class ProductViewSet(viewsets.ReadOnlyModelViewSet):
    """Products (one per SKU) with their offers. Offer filters match products with one offer meeting them all."""

    permission_classes = [HasActionPermission]
    required_permissions = {
        "list": ["emag.view_product", "emag.view_offer"],
        "retrieve": ["emag.view_product", "emag.view_offer"],
    }
    filterset_class = filters.ProductFilter
    filter_backends = [DjangoFilterBackend, filters.ProductSearchFilter, OrderingFilter]
    # What `search` looks in (ProductSearchFilter's fields; DRF's schema describes the parameter from them).
    search_fields = list(selectors.PRODUCT_SEARCH_FIELDS)
    pagination_class = LargeListPagination
    ordering_fields = ["id", "sku", "name", "brand", "created_at", "updated_at"]
    ordering = ["sku"]
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[Product]:
        return selectors.product_list(with_details=self.action == "retrieve")

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return ProductDetailSerializer if self.action == "retrieve" else ProductSerializer


@extend_schema_view(
    list=extend_schema(summary="List sync runs, newest first"),
    retrieve=extend_schema(summary="A sync run with its counts and timings"),
)
@extend_schema(tags=["sync-runs"])
class SyncRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [HasActionPermission]
    required_permissions = {
        "list": ["emag.view_syncrun"],
        "retrieve": ["emag.view_syncrun"],
        "errors": ["emag.view_syncrun", "emag.view_syncerror"],
        "create": ["emag.view_syncrun", "emag.start_sync"],
        "cancel": ["emag.view_syncrun", "emag.cancel_sync"],
    }
    serializer_class = SyncRunSerializer
    filterset_class = filters.SyncRunFilter
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["id", "created_at", "started_at", "finished_at", "status"]
    ordering = ["-created_at", "-id"]
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[SyncRun] | QuerySet[SyncError]:
        if self.action == "errors":
            return selectors.sync_error_list()
        return selectors.sync_run_list()

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return SyncErrorSerializer if self.action == "errors" else SyncRunSerializer

    @extend_schema(
        summary="Start syncs (operators): one account, or every active account",
        request=StartSyncSerializer,
        responses={
            202: StartSyncResultSerializer,
            409: _conflict_response(
                "A sync of the account (of every active account) is already running; `details.runs` lists them. "
                "Also `no_active_account` when no account is active."
            ),
        },
    )
    def create(self, request: Request) -> Response:
        serializer = StartSyncSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = serializer.validated_data.get("account")
        parameters = {}
        if serializer.validated_data.get("max_pages"):
            parameters["max_pages"] = serializer.validated_data["max_pages"]
        if account is not None:
            try:
                runs = [start_sync(account, trigger=SyncRun.Trigger.API, parameters=parameters)]
            except SyncAlreadyRunning as running:
                raise _already_running([running.run or selectors.active_run(account)])
            except InvalidSyncParameters as error:
                raise ValidationError({"non_field_errors": [str(error)]})
            return _accepted(runs, [])
        queued, running = start_all_syncs(parameters)
        return _accepted(queued, running)

    @extend_schema(
        summary="Cancel a queued or running sync (operators)",
        request=None,
        responses={
            200: OpenApiResponse(SyncRunSerializer, description="Cancelled (it had not started yet)."),
            202: OpenApiResponse(SyncRunSerializer, description="Cancel requested: the run stops after its page."),
            409: _conflict_response("The run has already finished."),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: int | None = None) -> Response:
        run = self.get_object()
        if not run.is_active:
            raise Conflict(f"Sync run {run.pk} has already finished ({run.status}).", code="sync_not_active")
        run = cancel_sync(run)
        code = status.HTTP_202_ACCEPTED if run.is_active else status.HTTP_200_OK
        return Response(SyncRunSerializer(run).data, status=code)

    @extend_schema(
        summary="The records (or pages) a sync run rejected, and why (paginated)",
        responses=SyncErrorSerializer(many=True),
        filters=True,
    )
    @action(
        detail=True,
        methods=["get"],
        filterset_class=filters.SyncErrorFilter,
        ordering_fields=["id", "page"],
        ordering=["page", "index", "id"],
    )
    def errors(self, request: Request, pk: int | None = None) -> Response:
        run = get_object_or_404(selectors.sync_run_list(), pk=pk)
        errors = self.filter_queryset(self.get_queryset().filter(run=run))
        page = self.paginate_queryset(errors)
        return self.get_paginated_response(SyncErrorSerializer(page, many=True).data)


def _already_running(runs: list[SyncRun | None]) -> Conflict:
    runs = [run for run in runs if run is not None]
    names = ", ".join(run.account.name for run in runs)
    return Conflict(
        f"A sync is already running for: {names}.",
        code="sync_already_running",
        details={"runs": SyncRunSerializer(runs, many=True).data},
    )


def _accepted(runs: list[SyncRun], already_running: list[SyncRun]) -> Response:
    body = {
        "runs": SyncRunSerializer(runs, many=True).data,
        "already_running": SyncRunSerializer(already_running, many=True).data,
    }
    return Response(body, status=status.HTTP_202_ACCEPTED)


def start_all_syncs(parameters: dict) -> tuple[list[SyncRun], list[SyncRun]]:
    """Queue a sync of every active account: (queued, already running); 409 if every one was running."""
    try:
        started = start_syncs(trigger=SyncRun.Trigger.API, parameters=parameters)
    except InvalidSyncParameters as error:
        raise ValidationError({"non_field_errors": [str(error)]})
    queued = [run for run in started if run.is_active]
    running = list(
        selectors.sync_run_list()
        .filter(status__in=SyncRun.ACTIVE_STATUSES, account__is_active=True)
        .exclude(pk__in=[run.pk for run in queued])
    )
    if not queued and running:
        raise _already_running(running)
    if not queued:
        raise Conflict("There is no active seller account to sync.", code="no_active_account")
    return queued, running
