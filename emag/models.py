from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from emag import crypto

PLATFORM_BASE_URLS = {
    "ro": "https://marketplace-api.emag.ro/api-3",
    "bg": "https://marketplace-api.emag.bg/api-3",
    "hu": "https://marketplace-api.emag.hu/api-3",
    "fd-ro": "https://marketplace-ro-api.fashiondays.com/api-3",
    "fd-bg": "https://marketplace-bg-api.fashiondays.com/api-3",
}


class SellerAccount(models.Model):
    """One eMAG seller account (its own login, its own offer ids, its own rate limit)."""

    class Kind(models.TextChoices):
        MAIN = "main", "Seller-fulfilled"
        FBE = "fbe", "Fulfilled by eMAG"

    class Platform(models.TextChoices):
        RO = "ro", "eMAG Romania"
        BG = "bg", "eMAG Bulgaria"
        HU = "hu", "eMAG Hungary"
        FD_RO = "fd-ro", "Fashion Days Romania"
        FD_BG = "fd-bg", "Fashion Days Bulgaria"
        CUSTOM = "custom", "Custom base URL"

    name = models.SlugField(max_length=32, unique=True, help_text="Short unique name, such as main or fbe.")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.MAIN)
    platform = models.CharField(max_length=8, choices=Platform.choices, default=Platform.RO)
    base_url = models.URLField(
        max_length=255, blank=True, help_text="Only for a custom platform, such as the built-in sandbox."
    )
    username = models.CharField("API username", max_length=254)
    # A Fernet token (emag.crypto); never the plaintext. Set with set_password().
    password_encrypted = models.TextField(editable=False, default="")
    is_active = models.BooleanField(default=True)
    sync_interval_minutes = models.PositiveIntegerField(
        default=60, help_text="How often the schedule syncs this account's offers."
    )

    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_message = models.CharField(max_length=500, blank=True)
    # Set when eMAG refused the credentials (a permanent error); cleared by a good test.
    auth_failed_at = models.DateTimeField(null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_status = models.CharField(max_length=32, blank=True)
    # When the last sync that read every page finished: offers still present were seen then.
    last_full_sync_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("test_connection", "Can test an account's connection to eMAG"),
            ("start_sync", "Can start a sync"),
            ("cancel_sync", "Can cancel a sync"),
        ]

    def __str__(self):
        return self.name

    def clean(self) -> None:
        """The one rule for where an account talks to, shared by the admin, the API and emag_account."""
        super().clean()
        if self.platform == self.Platform.CUSTOM:
            if not self.base_url:
                raise ValidationError({"base_url": "A custom platform needs its base URL."})
            if urlsplit(self.base_url).scheme not in ("http", "https"):
                raise ValidationError({"base_url": "Use an http or https URL."})
        elif self.base_url:
            raise ValidationError({"base_url": "Only a custom platform takes a base URL."})

    @property
    def api_base_url(self) -> str:
        if self.platform == self.Platform.CUSTOM:
            return self.base_url.rstrip("/")
        return PLATFORM_BASE_URLS[self.platform]

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def set_password(self, raw_password: str) -> None:
        self.password_encrypted = crypto.encrypt(raw_password)

    def get_password(self) -> str:
        return crypto.decrypt(self.password_encrypted)


class Product(models.Model):
    """The seller's catalogue item, keyed by SKU; shared by the offers of every account."""

    # Unique through Meta.constraints, not unique=True: on PostgreSQL that would add a second index
    # (varchar_pattern_ops, for LIKE 'prefix%') that no query uses and every new product pays for.
    sku = models.CharField("SKU", max_length=64, help_text="eMAG part_number.")
    part_number_key = models.CharField("PNK", max_length=32, blank=True)
    name = models.CharField(max_length=255, blank=True)
    brand = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    url = models.CharField(max_length=1024, blank=True)
    category_id = models.IntegerField(null=True, blank=True)
    vendor_category_id = models.IntegerField(null=True, blank=True)
    warranty = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Months.")
    eans = models.JSONField(default=list, blank=True)
    # The EANs space-joined, for a search that works the same on SQLite and PostgreSQL.
    ean_text = models.CharField(max_length=512, blank=True)
    images = models.JSONField(default=list, blank=True)
    characteristics = models.JSONField(default=list, blank=True)
    family = models.JSONField(null=True, blank=True)
    content_hash = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku"]
        constraints = [models.UniqueConstraint(fields=["sku"], name="product_unique_sku")]
        # Plain B-trees for equality (the admin's exact SKU/PNK/EAN lookup); the searches that match
        # anywhere in the text use ProductSearch's trigram index (migration 0009).
        indexes = [
            models.Index(fields=["name"], name="product_name_idx"),
            models.Index(fields=["part_number_key"], name="product_pnk_idx"),
            models.Index(fields=["ean_text"], name="product_ean_idx"),
        ]

    def __str__(self):
        return f"{self.sku} {self.name}".strip()


class Offer(models.Model):
    """One offer of one account (account, eMAG id), linked to its product."""

    class Status(models.IntegerChoices):
        INACTIVE = 0, "Inactive"
        ACTIVE = 1, "Active"
        END_OF_LIFE = 2, "End of life"

    # No index of its own: every index below that starts with the account serves it.
    account = models.ForeignKey(SellerAccount, on_delete=models.PROTECT, related_name="offers", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="offers")
    emag_id = models.BigIntegerField("eMAG id", help_text="The seller's product id on this account.")
    emag_offer_id = models.BigIntegerField(null=True, blank=True, help_text="eMAG's internal offer id.")
    part_number_key = models.CharField("PNK", max_length=32, blank=True)

    sale_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    recommended_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    min_sale_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    max_sale_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    best_offer_sale_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    best_offer_recommended_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    vat_id = models.IntegerField(null=True, blank=True)

    status = models.SmallIntegerField(choices=Status.choices, default=Status.INACTIVE)
    stock = models.JSONField(default=list, blank=True, help_text="Stock per warehouse, as eMAG sends it.")
    stock_total = models.IntegerField(default=0)
    general_stock = models.IntegerField(null=True, blank=True)
    estimated_stock = models.IntegerField(null=True, blank=True)
    handling_time = models.JSONField(default=list, blank=True)
    handling_time_days = models.SmallIntegerField(null=True, blank=True)

    validation_status = models.SmallIntegerField(null=True, blank=True)
    validation_status_description = models.CharField(max_length=255, blank=True)
    offer_validation_status = models.SmallIntegerField(null=True, blank=True)
    offer_validation_status_description = models.CharField(max_length=255, blank=True)
    doc_errors = models.JSONField(null=True, blank=True)

    buy_button_rank = models.IntegerField(null=True, blank=True)
    number_of_offers = models.IntegerField(null=True, blank=True)
    ownership = models.SmallIntegerField(null=True, blank=True)
    genius_eligibility = models.SmallIntegerField(null=True, blank=True)
    genius_eligibility_type = models.SmallIntegerField(null=True, blank=True)
    genius_computed = models.SmallIntegerField(null=True, blank=True)

    is_sellable = models.BooleanField(default=False)
    raw = models.JSONField(default=dict, blank=True, help_text="The record as eMAG last sent it.")
    content_hash = models.CharField(max_length=32)

    first_seen_at = models.DateTimeField(default=timezone.now)
    last_changed_at = models.DateTimeField(default=timezone.now)
    # When MagFlow last wrote this row from eMAG data. An unchanged offer is not
    # rewritten, so a present offer was also seen at its account's last_full_sync_at.
    last_seen_at = models.DateTimeField(default=timezone.now)
    is_present = models.BooleanField(default=True, help_text="Still on eMAG at the last complete sync.")

    class Meta:
        ordering = ["account", "emag_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "emag_id"], name="offer_unique_account_emag_id"),
        ]
        indexes = [
            # Also counts the staff's usual filter from the index alone (migration 0010); its prefix
            # serves account and status.
            models.Index(fields=["account", "status", "is_sellable", "stock_total"], name="offer_account_filter_idx"),
            models.Index(fields=["account", "is_sellable"], name="offer_account_sellable_idx"),
            models.Index(fields=["validation_status"], name="offer_validation_idx"),
            models.Index(fields=["stock_total"], name="offer_stock_idx"),
            models.Index(fields=["sale_price"], name="offer_price_idx"),
            models.Index(fields=["last_changed_at"], name="offer_changed_idx"),
            models.Index(fields=["is_present", "account"], name="offer_present_idx"),
            models.Index(fields=["part_number_key"], name="offer_pnk_idx"),
        ]

    def __str__(self):
        return f"{self.account.name}:{self.emag_id}"


class ProductSearch(models.Model):
    """What a search of offers or products looks in: the product's name, SKU, EAN and PNK, one line each,
    in capitals (the database's UPPER, so a search compares as Django's icontains does).

    Written only by the database's triggers (migration 0009), whoever changes a product; read by
    selectors.search_offers and selectors.search_products. Deleting a product deletes its row (ON DELETE
    CASCADE).
    """

    product = models.OneToOneField(
        Product, on_delete=models.DO_NOTHING, primary_key=True, related_name="+", db_constraint=False
    )
    text = models.TextField()

    class Meta:
        db_table = "emag_productsearch"

    def __str__(self):
        return f"search text of product {self.product_id}"


class SyncRun(models.Model):
    """One sync of one account, recorded before it starts and kept up to date as it goes."""

    class Kind(models.TextChoices):
        OFFERS = "offers", "Offers"
        ORDERS = "orders", "Orders"

    class Trigger(models.TextChoices):
        COMMAND = "command", "Command line"
        SCHEDULE = "schedule", "Schedule"
        API = "api", "API"
        ADMIN = "admin", "Admin"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        COMPLETED_WITH_REJECTIONS = "completed_with_rejections", "Completed with rejections"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        ABANDONED = "abandoned", "Abandoned"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
    SUCCESS_STATUSES = (Status.COMPLETED, Status.COMPLETED_WITH_REJECTIONS)

    account = models.ForeignKey(SellerAccount, on_delete=models.PROTECT, related_name="sync_runs")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.OFFERS)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    parameters = models.JSONField(default=dict, blank=True)
    is_dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.QUEUED)
    resumed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resumed_by"
    )
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="host:pid of the process running it.")
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    # True once the run (with the runs it resumed) read every page up to eMAG's end:
    # only such a run may mark vanished offers as no longer present.
    is_full_read = models.BooleanField(default=False, help_text="Read every page of the catalogue.")
    # A resumed run reads from here on; the pages before it come from the run it resumed.
    first_page = models.IntegerField(default=1, help_text="The page this run started reading from.")
    notes = models.TextField(
        blank=True, help_text="What the run wants staff to know, such as why nothing was deactivated."
    )

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    expected_total = models.IntegerField(null=True, blank=True, help_text="product_offer/count at the start.")
    pages_done = models.IntegerField(default=0)
    last_committed_page = models.IntegerField(default=0)
    fetched = models.IntegerField(default=0)
    created = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    unchanged = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)
    deactivated = models.IntegerField(default=0)
    failed_pages = models.IntegerField(default=0)
    requests_made = models.IntegerField(default=0)
    throttled = models.IntegerField(default=0, help_text="429 answers met.")
    retries = models.IntegerField(default=0)
    rate_limit_wait_seconds = models.FloatField(default=0)

    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"
        constraints = [
            # The last word on "never twice at once": a second queued or running
            # run of the same account and kind cannot even be inserted.
            models.UniqueConstraint(
                fields=["account", "kind"],
                condition=Q(status__in=["queued", "running"]),
                name="syncrun_one_active_per_account",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "-created_at"], name="syncrun_account_created_idx"),
            models.Index(fields=["status"], name="syncrun_status_idx"),
        ]

    def __str__(self):
        return f"{self.kind} sync #{self.pk} of {self.account_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class SyncPage(models.Model):
    """A page a run committed: its counts and the eMAG ids it saw (to resume, and to find vanished offers)."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="pages")
    number = models.IntegerField()
    emag_ids = models.JSONField(default=list)
    fetched = models.IntegerField(default=0)
    created = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    unchanged = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)
    committed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="syncpage_unique_run_number")]

    def __str__(self):
        return f"page {self.number} of run {self.run_id}"


class SyncError(models.Model):
    """A record (or a page) a run rejected, and why."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="errors")
    page = models.IntegerField(null=True, blank=True)
    index = models.IntegerField(null=True, blank=True, help_text="Position in the page, from 0.")
    emag_id = models.BigIntegerField(null=True, blank=True)
    sku = models.CharField(max_length=255, blank=True)
    reason_code = models.CharField(max_length=64)
    message = models.TextField()
    record = models.TextField(blank=True, help_text="The offending record, truncated.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "page", "index", "id"]
        indexes = [models.Index(fields=["run", "reason_code"], name="syncerror_run_reason_idx")]

    def __str__(self):
        return f"{self.reason_code} at page {self.page} #{self.index}"


class ApiCall(models.Model):
    """One HTTP request MagFlow sent to eMAG (retries are rows of their own)."""

    account = models.ForeignKey(SellerAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    route = models.CharField(max_length=64, help_text="Such as product_offer/read.")
    bucket = models.CharField(max_length=16, help_text="The rate-limit bucket: orders or other.")
    status_code = models.IntegerField(null=True, blank=True, help_text="Empty when no answer came.")
    outcome = models.CharField(max_length=32, help_text="ok, or the error kind.")
    duration_ms = models.FloatField()
    attempt = models.PositiveSmallIntegerField(default=1)
    is_throttled = models.BooleanField(default=False, help_text="eMAG answered 429.")
    wait_ms = models.FloatField(default=0, help_text="Time spent waiting for the rate limiter.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "created_at"], name="apicall_account_created_idx")]

    def __str__(self):
        return f"{self.route} {self.status_code or '-'} {self.outcome}"

    @property
    def is_error(self) -> bool:
        return self.outcome != "ok"


class RateLimitBucket(models.Model):
    """Shared state of one account's rate-limit bucket when the database holds it (no REDIS_URL)."""

    account = models.ForeignKey(SellerAccount, on_delete=models.CASCADE, related_name="+")
    bucket = models.CharField(max_length=16)
    # Send times (epoch seconds, database clock) of the last minute's requests.
    recent = models.JSONField(default=list)
    requests = models.BigIntegerField(default=0)
    waits = models.BigIntegerField(default=0)
    wait_seconds = models.FloatField(default=0)
    throttled = models.BigIntegerField(default=0, help_text="429 answers received.")
    counters_since = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "bucket"], name="ratelimitbucket_unique_account_bucket")
        ]

    def __str__(self):
        return f"{self.account_id}:{self.bucket}"
