from django.db import models
from django.utils import timezone


class ApiCallRollup(models.Model):
    """The eMAG calls of one account, route and bucket in one hour, kept after their ApiCall rows are pruned."""

    account = models.ForeignKey("emag.SellerAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    route = models.CharField(max_length=64)
    bucket = models.CharField(max_length=16)
    hour = models.DateTimeField(help_text="Start of the hour (UTC).")
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    throttled = models.BigIntegerField(default=0, help_text="429 answers received.")
    retries = models.BigIntegerField(default=0, help_text="Requests that were a second or later attempt.")
    duration_ms_sum = models.FloatField(default=0)
    duration_ms_max = models.FloatField(default=0)
    wait_ms_sum = models.FloatField(default=0)

    class Meta:
        ordering = ["-hour", "account", "route"]
        constraints = [
            models.UniqueConstraint(fields=["account", "route", "bucket", "hour"], name="apicallrollup_unique_key"),
        ]
        indexes = [models.Index(fields=["hour"], name="apicallrollup_hour_idx")]

    def __str__(self):
        return f"{self.account_id}:{self.route} {self.hour:%Y-%m-%d %H}:00"


class Backup(models.Model):
    """One backup archive MagFlow wrote (by the command, the schedule or the API)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        COMMAND = "command", "Command line"
        SCHEDULE = "schedule", "Schedule"
        API = "api", "API"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    directory = models.CharField(max_length=1024)
    file_name = models.CharField(max_length=255, blank=True)
    is_compressed = models.BooleanField(default=True)
    days = models.PositiveIntegerField(help_text="Sync runs of this many last days are included.")
    format_version = models.PositiveSmallIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, help_text="Checksum of the whole archive file.")
    counts = models.JSONField(default=dict, blank=True, help_text="Rows per table.")
    error_message = models.TextField(blank=True)
    created_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set when the retention pruned the file; the row stays as history.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Monitoring's own permissions live here: admins hold every monitoring permission, viewers only view_*.
        permissions = [
            ("manage_backups", "Can create and list backups"),
            ("reset_rate_limiter", "Can reset the rate-limiter counters"),
        ]

    def __str__(self):
        return self.file_name or f"backup #{self.pk}"
