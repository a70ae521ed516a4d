"""Health, metrics, statistics, rate-limiter and backup endpoints; the figures come from monitoring.metrics."""

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emag import ratelimit
from emag.models import SellerAccount
from monitoring import backup, health, metrics, serializers
from monitoring.models import Backup

TAGS = ["monitoring"]


class HasViewPermissions(BasePermission):
    """Authenticated, and holding every permission the view lists for the HTTP method."""

    message = "Your role does not allow this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        needed = getattr(view, "required_permissions", {}).get(request.method.lower())
        if needed is None:
            return request.method == "OPTIONS"
        missing = [perm for perm in needed if not user.has_perm(perm)]
        if missing:
            self.message = f"Your role does not allow this action (it needs {missing[0]})."
            return False
        return True


class MonitoringView(APIView):
    permission_classes = [HasViewPermissions]
    required_permissions = {"get": ("emag.view_apicall",)}


def _query_span(request: Request, name: str, default: str) -> tuple[str, metrics.Span]:
    raw = request.query_params.get(name, default)
    try:
        length = metrics.parse_window(raw)
    except metrics.InvalidWindow as exc:
        raise exceptions.ValidationError({name: [str(exc)]})
    return raw.strip().lower(), metrics.Span.ending_now(length)


class HealthView(MonitoringView):
    @extend_schema(tags=TAGS, responses=serializers.HealthReportSerializer, summary="Health score, alerts, accounts")
    def get(self, request: Request) -> Response:
        return Response(serializers.HealthReportSerializer(health.evaluate()).data)


class MetricsView(MonitoringView):
    @extend_schema(
        tags=TAGS,
        summary="eMAG request and sync figures over a window, overall and per account",
        parameters=[
            OpenApiParameter(
                "window",
                OpenApiTypes.STR,
                description="30s, 5m, 1h or 24h (any <number><s|m|h|d> up to 366 days). Default 5m.",
            )
        ],
        responses=serializers.MetricsReportSerializer,
    )
    def get(self, request: Request) -> Response:
        window, span = _query_span(request, "window", metrics.DEFAULT_WINDOW)
        overall = metrics.window_metrics(span)
        syncs = metrics.sync_figures(span)
        accounts = [
            {"account_id": account.pk, "account": account.name, **metrics.window_metrics(span, account.pk)}
            for account in SellerAccount.objects.order_by("name")
        ]
        report = {
            "window": window,
            "since": span.since,
            "metrics": overall,
            "accounts": accounts,
            "alerts": health.figure_alerts(
                overall, syncs, calls_scope=f"over the last {window}", syncs_scope=f"over the last {window}"
            ),
            "timestamp": span.until,
        }
        return Response(serializers.MetricsReportSerializer(report).data)


class SyncStatsView(MonitoringView):
    required_permissions = {"get": ("emag.view_syncrun",)}

    @extend_schema(
        tags=TAGS,
        summary="Sync runs finished in a period, overall and per account",
        parameters=[OpenApiParameter("period", OpenApiTypes.STR, description="Such as 1h, 24h or 7d. Default 24h.")],
        responses=serializers.SyncStatsSerializer,
    )
    def get(self, request: Request) -> Response:
        period, span = _query_span(request, "period", "24h")
        accounts = [
            {
                "account_id": account.pk,
                "account": account.name,
                **metrics.sync_figures(span, account.pk),
                "active_syncs": metrics.running_syncs(account.pk),
            }
            for account in SellerAccount.objects.order_by("name")
        ]
        report = {
            "period": period,
            "since": span.since,
            **metrics.sync_figures(span),
            "active_syncs": metrics.running_syncs(),
            "accounts": accounts,
            "timestamp": span.until,
        }
        return Response(serializers.SyncStatsSerializer(report).data)


class ProductStatsView(MonitoringView):
    required_permissions = {"get": ("emag.view_offer",)}

    @extend_schema(
        tags=TAGS, summary="Offer counts, overall and per account", responses=serializers.ProductStatsSerializer
    )
    def get(self, request: Request) -> Response:
        now = timezone.now()
        return Response(serializers.ProductStatsSerializer({**metrics.product_stats(now), "timestamp": now}).data)


def rate_limiter_report() -> dict:
    """The shared limiter's counters and current usage for every account, with usage as % of the limits."""
    accounts = []
    backend, enabled = ratelimit.backend_name(), ratelimit.is_enabled()
    for account in SellerAccount.objects.order_by("name"):
        found = ratelimit.stats(account.pk)
        buckets = []
        for bucket, figures in found["buckets"].items():
            buckets.append(
                {
                    "bucket": bucket,
                    **figures,
                    "usage_per_second": round(100 * figures["used_last_second"] / figures["limit_per_second"], 2),
                    "usage_per_minute": round(100 * figures["used_last_minute"] / figures["limit_per_minute"], 2),
                }
            )
        accounts.append({"account_id": account.pk, "account": account.name, "buckets": buckets})
    return {"backend": backend, "enabled": enabled, "accounts": accounts, "timestamp": timezone.now()}


class RateLimiterStatsView(MonitoringView):
    @extend_schema(
        tags=TAGS,
        summary="Rate-limiter counters and current usage per account and bucket",
        responses=serializers.RateLimiterStatsSerializer,
    )
    def get(self, request: Request) -> Response:
        return Response(serializers.RateLimiterStatsSerializer(rate_limiter_report()).data)


class RateLimiterResetView(MonitoringView):
    required_permissions = {"post": ("monitoring.reset_rate_limiter",)}

    @extend_schema(
        tags=TAGS,
        summary="Zero the rate-limiter counters of one account or all (admins)",
        request=serializers.RateLimiterResetInputSerializer,
        responses=serializers.RateLimiterResetSerializer,
    )
    def post(self, request: Request) -> Response:
        given = serializers.RateLimiterResetInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        account_id = given.validated_data.get("account_id")
        name = "all"
        if account_id is not None:
            account = SellerAccount.objects.filter(pk=account_id).first()
            if account is None:
                raise exceptions.ValidationError({"account_id": [f"No seller account has id {account_id}."]})
            name = account.name
        ratelimit.reset(account_id)
        return Response(serializers.RateLimiterResetSerializer({"reset": name, "timestamp": timezone.now()}).data)


class BackupListView(generics.ListCreateAPIView):
    """Backups MagFlow wrote, newest first; POST queues a new one for the worker."""

    permission_classes = [HasViewPermissions]
    required_permissions = {"get": ("monitoring.manage_backups",), "post": ("monitoring.manage_backups",)}
    queryset = Backup.objects.select_related("created_by")
    serializer_class = serializers.BackupSerializer
    filter_backends: list = []

    @extend_schema(tags=TAGS, summary="List backups (admins)")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        summary="Queue a backup (admins); the worker writes it",
        request=serializers.BackupCreateSerializer,
        responses={202: serializers.BackupSerializer},
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        given = serializers.BackupCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        queued = backup.queue_backup(
            compress=given.validated_data["compress"],
            days=given.validated_data.get("days"),
            trigger=Backup.Trigger.API,
            user=request.user,
        )
        return Response(serializers.BackupSerializer(queued).data, status=status.HTTP_202_ACCEPTED)


class BackupDetailView(generics.RetrieveAPIView):
    permission_classes = [HasViewPermissions]
    required_permissions = {"get": ("monitoring.manage_backups",)}
    queryset = Backup.objects.select_related("created_by")
    serializer_class = serializers.BackupSerializer

    @extend_schema(tags=TAGS, summary="One backup (admins)")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


# --- Plain Django views: cheap probes and the Prometheus exposition ------------------------------------------


@never_cache
@require_GET
def health_live(request: HttpRequest) -> JsonResponse:
    """Public and cheap: does the database answer?"""
    problem = health.database_problem()
    if problem:
        return JsonResponse({"status": "unavailable", "reason": problem}, status=503)
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def health_ready(request: HttpRequest) -> JsonResponse:
    """Ready for traffic: the database answers, every migration is applied, the task queue is reachable and moving."""
    problems = []
    database = health.database_problem()
    if database:
        problems.append(database)
    else:
        pending = health.unapplied_migrations()
        if pending:
            problems.append(f"{len(pending)} unapplied migration(s): {', '.join(pending[:5])}")
        queue = health.queue_problem()
        if queue:
            problems.append(queue)
    if problems:
        return JsonResponse({"status": "unavailable", "reasons": problems}, status=503)
    return JsonResponse({"status": "ok", "checks": ["database", "migrations", "queue"]})


def _has_metrics_token(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())


@never_cache
@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition; a bearer METRICS_TOKEN or a staff session may read it."""
    if not _has_metrics_token(request):
        user = getattr(request, "user", None)
        if not user or not user.is_authenticated:
            response = HttpResponse("Authentication required: a bearer METRICS_TOKEN or a staff session.\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            response["Content-Type"] = "text/plain; charset=utf-8"
            return response
        if not user.is_staff:
            return HttpResponse("Staff only.\n", status=403, content_type="text/plain; charset=utf-8")
    from monitoring import prometheus

    body, content_type = prometheus.render()
    return HttpResponse(body, content_type=content_type)
