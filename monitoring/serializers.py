"""Response shapes of the monitoring endpoints (documented for the OpenAPI schema) and the backup input."""

from rest_framework import serializers

from monitoring.models import Backup

MS = "Milliseconds; null when no request was made in the window."


class AlertSerializer(serializers.Serializer):
    rule = serializers.ChoiceField(
        choices=[
            "error_rate",
            "response_time",
            "rate_limit_usage",
            "sync_success_rate",
            "sync_overdue",
            "queue_backlog",
        ]
    )
    severity = serializers.ChoiceField(choices=["warning", "critical"])
    penalty = serializers.IntegerField(help_text="Points this rule takes off the health score.")
    message = serializers.CharField()
    value = serializers.JSONField(help_text="The figure that fired the rule (a number, or account names).")
    threshold = serializers.FloatField()


class CallFiguresSerializer(serializers.Serializer):
    requests_per_minute = serializers.FloatField()
    error_rate = serializers.FloatField(help_text="% of requests that failed, whatever the reason.")
    average_response_time = serializers.FloatField(allow_null=True, help_text=MS)
    median_response_time = serializers.FloatField(
        allow_null=True, help_text=MS + " Covers calls not yet pruned into hourly rollups."
    )
    p95_response_time = serializers.FloatField(
        allow_null=True, help_text=MS + " Covers calls not yet pruned into hourly rollups."
    )
    max_response_time = serializers.FloatField(allow_null=True, help_text=MS)
    total_requests = serializers.IntegerField(help_text="HTTP requests sent to eMAG, retries included.")
    total_errors = serializers.IntegerField(help_text="Requests that failed: HTTP errors, 429s, timeouts, bad bodies.")
    throttled_requests = serializers.IntegerField(help_text="Requests eMAG answered with 429.")
    retried_requests = serializers.IntegerField(help_text="Requests that were a second or later attempt.")
    rate_limit_wait_time = serializers.FloatField(help_text="Milliseconds spent waiting for the rate limiter.")
    rate_limit_usage = serializers.FloatField(
        help_text="The busiest account bucket's average requests per minute over the window, as % of its limit."
    )
    sync_success_rate = serializers.FloatField(
        help_text="% of the syncs finished in the window that succeeded (cancelled ones left out); 100 when none."
    )
    active_syncs = serializers.IntegerField(help_text="Syncs queued or running now.")


class AccountCallFiguresSerializer(CallFiguresSerializer):
    account_id = serializers.IntegerField()
    account = serializers.CharField()


class MetricsReportSerializer(serializers.Serializer):
    window = serializers.CharField()
    since = serializers.DateTimeField()
    metrics = CallFiguresSerializer()
    accounts = AccountCallFiguresSerializer(many=True)
    alerts = AlertSerializer(many=True)
    timestamp = serializers.DateTimeField()


class HealthMetricsSerializer(serializers.Serializer):
    error_rate = serializers.FloatField(help_text="% over the last 5 minutes.")
    total_requests = serializers.IntegerField(help_text="Over the last 5 minutes.")
    total_errors = serializers.IntegerField(help_text="Over the last 5 minutes.")
    average_response_time = serializers.FloatField(allow_null=True, help_text=MS + " Last 5 minutes.")
    rate_limit_usage = serializers.FloatField(help_text="% of the per-minute limit, last 5 minutes.")
    sync_success_rate = serializers.FloatField(help_text="% of the last hour's finished syncs; 100 when none.")
    syncs_last_hour = serializers.IntegerField()
    overdue_accounts = serializers.IntegerField()
    queued_tasks = serializers.IntegerField(allow_null=True)
    oldest_task_age_seconds = serializers.FloatField(allow_null=True)
    queue_retry_seconds = serializers.IntegerField()


class HealthAccountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    is_active = serializers.BooleanField()
    sync_interval_minutes = serializers.IntegerField()
    last_successful_sync_at = serializers.DateTimeField(allow_null=True)
    minutes_since_successful_sync = serializers.FloatField(allow_null=True)
    is_overdue = serializers.BooleanField()
    requests_last_5m = serializers.IntegerField()
    errors_last_5m = serializers.IntegerField()
    error_rate = serializers.FloatField()
    average_response_time = serializers.FloatField(allow_null=True)
    rate_limit_usage = serializers.FloatField()
    sync_success_rate = serializers.FloatField()
    active_syncs = serializers.IntegerField()


class HealthReportSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["healthy", "degraded", "warning", "critical"])
    health_score = serializers.IntegerField(min_value=0, max_value=100)
    metrics = HealthMetricsSerializer()
    alerts = AlertSerializer(many=True)
    accounts = HealthAccountSerializer(many=True)
    timestamp = serializers.DateTimeField()


class SyncFiguresSerializer(serializers.Serializer):
    total_syncs = serializers.IntegerField(help_text="Runs that finished in the period.")
    successful_syncs = serializers.IntegerField()
    failed_syncs = serializers.IntegerField(help_text="Failed, partial or abandoned.")
    cancelled_syncs = serializers.IntegerField()
    success_rate = serializers.FloatField(help_text="% of successful among successful and failed; 100 when none.")
    average_duration_seconds = serializers.FloatField(allow_null=True)
    total_items_processed = serializers.IntegerField(help_text="Offers read from eMAG.")
    total_pages_processed = serializers.IntegerField()


class AccountSyncFiguresSerializer(SyncFiguresSerializer):
    account_id = serializers.IntegerField()
    account = serializers.CharField()
    active_syncs = serializers.IntegerField()


class SyncStatsSerializer(SyncFiguresSerializer):
    period = serializers.CharField()
    since = serializers.DateTimeField()
    active_syncs = serializers.IntegerField()
    accounts = AccountSyncFiguresSerializer(many=True)
    timestamp = serializers.DateTimeField()


class OfferCountsSerializer(serializers.Serializer):
    total_offers = serializers.IntegerField()
    present_offers = serializers.IntegerField(help_text="Still on eMAG at the last complete sync.")
    active_offers = serializers.IntegerField()
    sellable_offers = serializers.IntegerField()
    out_of_stock_offers = serializers.IntegerField()
    changed_last_24h = serializers.IntegerField()
    seen_last_24h = serializers.IntegerField(help_text="Offers a sync wrote in the last 24 hours.")


class AccountOfferCountsSerializer(OfferCountsSerializer):
    account_id = serializers.IntegerField()
    account = serializers.CharField()
    last_full_sync_at = serializers.DateTimeField(allow_null=True)


class ProductStatsSerializer(OfferCountsSerializer):
    total_products = serializers.IntegerField()
    accounts = AccountOfferCountsSerializer(many=True)
    timestamp = serializers.DateTimeField()


class BucketStatsSerializer(serializers.Serializer):
    bucket = serializers.CharField()
    requests = serializers.IntegerField(help_text="Slots the limiter granted since the counters were reset.")
    waits = serializers.IntegerField(help_text="Requests that had to wait for a slot.")
    wait_seconds = serializers.FloatField(help_text="Total time spent waiting.")
    throttled = serializers.IntegerField(help_text="429 answers received from eMAG.")
    used_last_second = serializers.IntegerField()
    used_last_minute = serializers.IntegerField()
    limit_per_second = serializers.IntegerField()
    limit_per_minute = serializers.IntegerField()
    usage_per_second = serializers.FloatField(help_text="% of the per-second limit used now.")
    usage_per_minute = serializers.FloatField(help_text="% of the per-minute limit used now.")
    available_now = serializers.IntegerField(help_text="Requests that could be sent at once without waiting.")
    counters_since = serializers.CharField(allow_null=True)


class AccountRateLimiterSerializer(serializers.Serializer):
    account_id = serializers.IntegerField()
    account = serializers.CharField()
    buckets = BucketStatsSerializer(many=True)


class RateLimiterStatsSerializer(serializers.Serializer):
    backend = serializers.ChoiceField(choices=["database", "redis", "disabled"])
    enabled = serializers.BooleanField()
    accounts = AccountRateLimiterSerializer(many=True)
    timestamp = serializers.DateTimeField()


class RateLimiterResetInputSerializer(serializers.Serializer):
    account_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="Only this account; every account when left out."
    )


class RateLimiterResetSerializer(serializers.Serializer):
    reset = serializers.CharField(help_text="The account name, or `all`.")
    timestamp = serializers.DateTimeField()


class BackupSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True)

    class Meta:
        model = Backup
        fields = [
            "id",
            "status",
            "trigger",
            "file_name",
            "is_compressed",
            "days",
            "format_version",
            "size_bytes",
            "sha256",
            "counts",
            "error_message",
            "created_by",
            "created_at",
            "finished_at",
            "deleted_at",
        ]
        read_only_fields = fields


class BackupCreateSerializer(serializers.Serializer):
    compress = serializers.BooleanField(default=True)
    days = serializers.IntegerField(
        min_value=0, max_value=3650, required=False, help_text="Sync runs of this many last days; default 30."
    )
