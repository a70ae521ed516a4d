"""The offer sync of one account: every page of product_offer/read into Product and Offer rows.

    run = sync_offers(account, trigger=SyncRun.Trigger.COMMAND, max_pages=None, page_size=100,
                      dry_run=False, resume=False)

How one run goes:
1. Claim. On PostgreSQL the account's advisory lock is taken first (emag.locks), so a
   second start answers SyncAlreadyRunning at once and calls nothing. Runs whose
   holder died are marked `abandoned`. The run row is then committed as `running`
   (the constraint `syncrun_one_active_per_account` is the last word) before any
   eMAG call, and a heartbeat thread keeps `heartbeat_at` fresh.
2. Count (product_offer/count), then read page after page until an empty or short
   page (or, after the last page by eMAG's count, until a new count confirms the total).
   eMAG is called outside any transaction. Each page is parsed in Python (emag.parsing),
   then its offers, its SyncPage row, its SyncError rows and the run's progress commit
   in one transaction, so a crash loses at most the pages in flight. On PostgreSQL one
   thread reads (and parses) the pages ahead and SYNC_WRITERS threads store them, each
   with its own connection (PageWriters): pages may then commit out of order, and the
   run's `last_committed_page` is the end of the contiguous prefix of committed pages.
   Offers are bulk-upserted, and only those whose content hash changed: a run over
   an unchanged catalogue writes no offer row at all. If the page's bulk write fails
   in the database, the page is written again record by record, each in its own
   savepoint, and only the records the database refuses are rejected.
3. A page that still fails after the client's retries is recorded (SyncError
   `page_failed`) and skipped; it is read once more at the end. SYNC_MAX_CONSECUTIVE_
   FAILED_PAGES failures in a row end the run `failed`; a gap left at the end makes it
   `partial`. A run never ends `completed` with a gap.
4. Only a run that read every page (with the runs it resumed), whose record count
   matches eMAG's count at the start and at the end, and that could identify every
   record it read, marks the offers it did not see as no longer present.

Duplicates: within one run (and the runs it resumed), the first record read with an
eMAG id wins; a later record with the same id is rejected as `duplicate_id` and kept
in its SyncError. eMAG's ids are unique per account, so a repeat is either a listing
that moved under the reader (the first copy is as good as the second) or a malformed
record; rejecting it never lets a bad copy overwrite a good one, and is reported.
The same SKU twice on one account is allowed: both offers point to the one product.

Resume: `resume=True` starts a new run (`resumed_from` the latest interrupted one)
at the first page after the interrupted run's last committed page (the end of its
contiguous prefix of committed pages). The new run carries the counts of those
earlier pages, so its totals describe the whole catalogue pass. A django-q2 retry
of a task whose worker died continues the same run row instead (see emag.tasks).
"""

import gc
import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import orjson
import psycopg
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import F, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from emag.client import ClientStats, EmagAuthError, EmagClient, EmagError, EmagIPNotAllowed
from emag.locks import AccountLock
from emag.models import Offer, Product, SellerAccount, SyncError, SyncPage, SyncRun
from emag.parsing import ParsedOffer, Reason, Rejection, parse_offer, record_excerpt
from emag.services import SyncAlreadyRunning, clean_parameters, find_active_run, reap_stale_runs

logger = logging.getLogger(__name__)

PRODUCT_FIELDS = [
    "part_number_key",
    "name",
    "brand",
    "description",
    "url",
    "category_id",
    "vendor_category_id",
    "warranty",
    "eans",
    "ean_text",
    "images",
    "characteristics",
    "family",
    "content_hash",
]
OFFER_FIELDS = [
    "emag_offer_id",
    "part_number_key",
    "sale_price",
    "recommended_price",
    "min_sale_price",
    "max_sale_price",
    "best_offer_sale_price",
    "best_offer_recommended_price",
    "currency",
    "vat_id",
    "status",
    "stock",
    "stock_total",
    "general_stock",
    "estimated_stock",
    "handling_time",
    "handling_time_days",
    "validation_status",
    "validation_status_description",
    "offer_validation_status",
    "offer_validation_status_description",
    "doc_errors",
    "buy_button_rank",
    "number_of_offers",
    "ownership",
    "genius_eligibility",
    "genius_eligibility_type",
    "genius_computed",
    "is_sellable",
    "raw",
    "content_hash",
]
# The COPY path passes raw apart, as the JSON text the parser already made.
OFFER_FIELDS_BUT_RAW = [name for name in OFFER_FIELDS if name != "raw"]
# What an upsert of an existing offer rewrites: everything but its identity and first_seen_at.
OFFER_UPDATE_FIELDS = ["product", *OFFER_FIELDS, "last_changed_at", "last_seen_at", "is_present"]

PAGE_FAILED = "page_failed"
COUNT_FAILED = "count_failed"
FATAL_ERRORS = (EmagAuthError, EmagIPNotAllowed)
RESUMABLE_STATUSES = (
    SyncRun.Status.ABANDONED,
    SyncRun.Status.FAILED,
    SyncRun.Status.PARTIAL,
    SyncRun.Status.CANCELLED,
    SyncRun.Status.COMPLETED,
    SyncRun.Status.COMPLETED_WITH_REJECTIONS,
)
# Beyond this many pages past eMAG's own count, full pages are not believed any more.
EXTRA_PAGES_ALLOWED = 50
SYNC_ANALYZE_ROWS = 2_000

Progress = Callable[[SyncRun], None]


class ClaimLost(Exception):
    """The run row is no longer ours (marked abandoned and taken over): stop without writing."""


class RunNotClaimable(Exception):
    """The run given to sync_offers is not in a state this process may run (finished, or alive elsewhere)."""


# --- Small helpers ---------------------------------------------------------------------------------------------


# Python's cycle collector runs its youngest pass after every 700 container objects allocated and
# not yet freed. A page of 100 decoded and parsed records makes thousands, so a sync ran it about
# 37 times per 1,000 offers, each pass holding the GIL that the reader and the writers share: 5-7 %
# of a sync's time at 10,000 offers. Nearly all of a sync's objects are freed by reference counting
# as soon as a page is done, so during a sync the pass waits for 10,000 instead (measured: GC time
# 0.4 s -> 0.01 s per 10,000 offers); memory stays flat (bench/).
SYNC_GC_THRESHOLD = 10_000
_gc_lock = threading.Lock()
_gc_syncs = 0
_gc_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Raise the collector's youngest threshold while at least one sync of this process runs; then restore it."""
    global _gc_syncs, _gc_saved
    with _gc_lock:
        if _gc_syncs == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(SYNC_GC_THRESHOLD, _gc_saved[0]), *_gc_saved[1:])
        _gc_syncs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_syncs -= 1
            if _gc_syncs == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                _gc_saved = None


class IdSet:
    """A set of eMAG ids in bounded memory: a bitmap for ids under 2**24 (eMAG's range), a set for the rest."""

    BITMAP_LIMIT = 1 << 24

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._bits = bytearray()
        self._others: set[int] = set()
        self._len = 0
        for value in ids:
            self.add(value)

    def add(self, value: int) -> bool:
        """Add an id; True when it was not there yet."""
        if 0 <= value < self.BITMAP_LIMIT:
            byte, bit = value >> 3, 1 << (value & 7)
            if byte >= len(self._bits):
                self._bits.extend(bytes(max(byte + 1 - len(self._bits), len(self._bits))))
            if self._bits[byte] & bit:
                return False
            self._bits[byte] |= bit
        else:
            if value in self._others:
                return False
            self._others.add(value)
        self._len += 1
        return True

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        if 0 <= value < self.BITMAP_LIMIT:
            byte = value >> 3
            return byte < len(self._bits) and bool(self._bits[byte] & (1 << (value & 7)))
        return value in self._others

    def __len__(self) -> int:
        return self._len


def worker_token() -> str:
    """Who holds a run: host, pid and a random part (two threads of one process are two holders)."""
    return f"{socket.gethostname()[:180]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass
class PageRange:
    """Pages [first, last] of one run, part of the pages a run stands on."""

    run_id: int
    first: int
    last: int


@dataclass
class PageResult:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    unidentified: int = 0
    emag_ids: list[int] = field(default_factory=list)
    errors: list[SyncError] = field(default_factory=list)
    valid: list[tuple[int, ParsedOffer]] = field(default_factory=list)


# --- The entry point -------------------------------------------------------------------------------------------


def sync_offers(
    account: SellerAccount,
    trigger: str = SyncRun.Trigger.COMMAND,
    max_pages: int | None = None,
    page_size: int | None = None,
    dry_run: bool = False,
    resume: bool = False,
    *,
    run: SyncRun | None = None,
    client: EmagClient | None = None,
    progress: Progress | None = None,
) -> SyncRun:
    """Sync the account's offers; return the finished run. SyncAlreadyRunning if another sync holds the account.

    `run`: an existing queued (or abandoned, for a task retry) run to execute, as the
    django-q2 task does; its parameters then come from the run row.
    """
    if run is not None:
        parameters = clean_parameters(run.parameters)
        max_pages = parameters.get("max_pages")
        page_size = parameters.get("page_size")
        dry_run = bool(parameters.get("dry_run"))
        resume = bool(parameters.get("resume"))
    else:
        parameters = clean_parameters(
            {
                key: value
                for key, value in {
                    "max_pages": max_pages,
                    "page_size": page_size,
                    "dry_run": dry_run or None,
                    "resume": resume or None,
                }.items()
                if value is not None
            }
        )
    page_size = page_size or settings.SYNC_PAGE_SIZE

    lock = AccountLock(account.pk, SyncRun.Kind.OFFERS)
    if not lock.acquire():
        # Its row may not be inserted yet (or was just marked abandoned while it still ran).
        holder = find_active_run(account) or SyncRun.objects.filter(account=account).order_by("-created_at").first()
        raise SyncAlreadyRunning(run=holder, account=account)
    try:
        run, prefix = _claim(account, trigger, parameters, run=run, resume=resume, lock=lock)
        engine = _Engine(
            account,
            run,
            prefix=prefix,
            max_pages=max_pages,
            page_size=page_size,
            dry_run=dry_run,
            client=client,
            progress=progress,
            lock_is_real=lock.is_real,
        )
        with fewer_gc_passes():
            engine.execute()
    finally:
        lock.release()
    run.refresh_from_db()
    return run


# --- Claiming the run ------------------------------------------------------------------------------------------


def _claim(
    account: SellerAccount,
    trigger: str,
    parameters: dict,
    *,
    run: SyncRun | None,
    resume: bool,
    lock: AccountLock,
) -> tuple[SyncRun, list[PageRange]]:
    """Make the run row `running` and ours; return it with the page ranges it stands on (resume)."""
    reap_stale_runs(account, lock_is_ours=lock.is_real)
    now = timezone.now()
    token = worker_token()

    if run is None:
        previous = _resumable_run(account) if resume else None
        run = SyncRun(
            account=account,
            kind=SyncRun.Kind.OFFERS,
            trigger=trigger,
            parameters=parameters,
            is_dry_run=bool(parameters.get("dry_run")),
            status=SyncRun.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            worker=token,
            attempts=1,
        )
        prefix: list[PageRange] = []
        if previous is not None:
            run.resumed_from = previous
            run.first_page = previous.last_committed_page + 1
            run.last_committed_page = previous.last_committed_page
            prefix = _page_ranges(previous, previous.last_committed_page)
        _carry(run, prefix)
        try:
            with transaction.atomic():
                run.save()
        except IntegrityError:
            raise SyncAlreadyRunning(run=find_active_run(account), account=account)
        return run, prefix

    run.refresh_from_db()
    if run.status not in (SyncRun.Status.QUEUED, SyncRun.Status.ABANDONED):
        raise RunNotClaimable(f"run #{run.pk} is {run.status}; nothing to do")
    if run.status == SyncRun.Status.ABANDONED and (run.is_dry_run or run.resumed_by.exists()):
        raise RunNotClaimable(f"run #{run.pk} was abandoned and is not continued")
    if run.status == SyncRun.Status.QUEUED and resume and run.last_committed_page == 0:
        previous = _resumable_run(account, exclude=run.pk)
        if previous is not None:
            run.resumed_from = previous
            run.first_page = previous.last_committed_page + 1
            run.last_committed_page = previous.last_committed_page
    # Pages this run committed after a gap are read again: drop them so they are not counted twice.
    SyncPage.objects.filter(run=run, number__gt=run.last_committed_page).delete()
    SyncError.objects.filter(run=run, page__gt=run.last_committed_page).delete()
    prefix = _page_ranges(run, run.last_committed_page)
    _carry(run, prefix)
    fields = {
        "status": SyncRun.Status.RUNNING,
        "started_at": run.started_at or now,
        "heartbeat_at": now,
        "finished_at": None,
        "worker": token,
        "attempts": F("attempts") + 1,
        "error_code": "",
        "error_message": "",
        "resumed_from": run.resumed_from,
        "first_page": run.first_page,
        "last_committed_page": run.last_committed_page,
        "failed_pages": 0,
        **{name: getattr(run, name) for name in ("pages_done", *_COUNTERS)},
    }
    try:
        with transaction.atomic():
            claimed = SyncRun.objects.filter(pk=run.pk, status=run.status, worker=run.worker).update(**fields)
    except IntegrityError:
        raise SyncAlreadyRunning(run=find_active_run(account), account=account)
    if not claimed:
        raise SyncAlreadyRunning(run=find_active_run(account) or run, account=account)
    run.refresh_from_db()
    return run, prefix


_COUNTERS = ("fetched", "created", "updated", "unchanged", "rejected")
# The client's figures: each writer knows them as of its page, so the row keeps the largest.
_GROWING_FIGURES = ("requests_made", "retries", "throttled", "rate_limit_wait_seconds")


def _resumable_run(account: SellerAccount, exclude: int | None = None) -> SyncRun | None:
    """The latest real run of the account, if it stopped before reading every page."""
    latest = (
        SyncRun.objects.filter(account=account, kind=SyncRun.Kind.OFFERS, is_dry_run=False)
        .exclude(status__in=SyncRun.ACTIVE_STATUSES)
        .exclude(pk=exclude)
        .order_by("-created_at", "-id")
        .first()
    )
    if latest is None or latest.is_full_read or latest.status not in RESUMABLE_STATUSES:
        return None
    if latest.last_committed_page < 1:
        return None
    return latest


def _page_ranges(run: SyncRun, last: int) -> list[PageRange]:
    """The committed pages [1, last] a run stands on: its own from first_page, the earlier ones from its ancestors."""
    ranges: list[PageRange] = []
    current: SyncRun | None = run
    while current is not None and last >= 1:
        first = max(1, current.first_page)
        if first <= last:
            ranges.append(PageRange(current.pk, first, last))
        last = first - 1
        current = current.resumed_from if last >= 1 else None
    return ranges


PRODUCT_COLUMNS = ["sku", *PRODUCT_FIELDS, "created_at", "updated_at"]
OFFER_COLUMNS = [
    "account_id",
    "product_id",
    "emag_id",
    *OFFER_FIELDS_BUT_RAW,
    "raw",
    "first_seen_at",
    "last_changed_at",
    "last_seen_at",
    "is_present",
]
JSON_COLUMNS = {"eans", "images", "characteristics", "family", "stock", "handling_time", "doc_errors", "raw"}


def _copy_upsert(
    model: Any,
    columns: list[str],
    rows: list[tuple],
    *,
    conflict: list[str],
    update: list[str],
    returning: list[str] | None = None,
    direct: bool = False,
) -> list[tuple]:
    """PostgreSQL: COPY the rows into a temporary table, then one INSERT … SELECT … ON CONFLICT DO UPDATE.

    `direct`: every row is known to be new (and nobody else inserts these keys), so they are
    COPied straight into the table, without staging or conflict handling; should a key exist
    after all, the COPY fails on the unique constraint and the caller falls back as for any error.

    Django's bulk_create sends each value through psycopg's client-side quoting, which for
    offers (a few kilobytes of JSON each) costs more than the whole database work; COPY
    streams them instead. Rows come sorted by the conflict key, so two writers (main and
    FBE sharing products) lock in the same order and cannot deadlock.
    """
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    stage = quote(f"magflow_stage_{model._meta.db_table}")
    names = ", ".join(quote(column) for column in columns)
    json_positions = [index for index, column in enumerate(columns) if column in JSON_COLUMNS]
    updates = ", ".join(f"{quote(column)} = EXCLUDED.{quote(column)}" for column in update)
    # Every name in these statements comes from the models and is quoted; no value is interpolated.
    with connection.cursor() as cursor:
        if direct:
            _copy_rows(cursor, f"COPY {table} ({names}) FROM STDIN", rows, json_positions)
            return []
        if stage not in _STAGES_READY.get(cursor.cursor.connection, ()):
            cursor.execute(_create_stage(stage, table, names))
        _copy_rows(cursor, f"COPY {stage} ({names}) FROM STDIN", rows, json_positions)
        keys = ", ".join(quote(column) for column in conflict)
        # The stage is emptied by the same statement that reads it (its rows would otherwise stay
        # until the commit, and a record-by-record retry in the same transaction would see them).
        upsert = f"WITH staged AS (DELETE FROM {stage} RETURNING {names}) "  # noqa: S608
        upsert += f"INSERT INTO {table} ({names}) SELECT {names} FROM staged ORDER BY {keys} "  # noqa: S608
        upsert += f"ON CONFLICT ({keys}) DO UPDATE SET {updates}"
        if returning:
            upsert += " RETURNING " + ", ".join(quote(column) for column in returning)
        cursor.execute(upsert)
        return cursor.fetchall() if returning else []


def _copy_new_products(rows: list[tuple], skus: list[str]) -> list[tuple] | None:
    """PostgreSQL: COPY products none of which existed when looked up straight into their table; (sku, id) of each.

    A first sync's pages are all new products, and COPY into the table costs PostgreSQL about
    half of staging them and upserting with ON CONFLICT. Products are shared by the accounts,
    though, so another account's sync may store one of these SKUs in between: the unique index
    then refuses the COPY, its savepoint is rolled back and None tells the caller to upsert
    instead. Rows come sorted by SKU, as the upsert's, so two writers cannot deadlock.
    """
    try:
        with transaction.atomic():
            _copy_upsert(Product, PRODUCT_COLUMNS, rows, conflict=["sku"], update=[], direct=True)
    except (IntegrityError, psycopg.errors.UniqueViolation):
        return None
    return _rows_by_keys(Product, "sku", skus, ("sku", "id"))


def _rows_by_keys(model: Any, key: str, values: list, columns: tuple[str, ...], **equal: Any) -> list[tuple]:
    """The given columns of the model's rows whose `key` column is one of `values` (a page's ids or SKUs).

    `equal`: other columns the rows must equal (the account). On PostgreSQL as one statement with
    the values in one array parameter (`key = ANY(%s)`): the ORM's IN list of a hundred
    placeholders, compiled and quoted in Python for every page, cost 1.2-1.5 ms of the GIL per
    lookup, and a page makes up to three.
    """
    if connection.vendor != "postgresql":
        return list(model.objects.filter(**{f"{key}__in": values}, **equal).order_by().values_list(*columns))
    quote = connection.ops.quote_name
    sql = f"SELECT {', '.join(quote(column) for column in columns)} FROM {quote(model._meta.db_table)} "  # noqa: S608
    sql += " AND ".join([f"WHERE {quote(key)} = ANY(%s)", *(f"{quote(column)} = %s" for column in equal)])
    with connection.cursor() as cursor:
        cursor.execute(sql, [values, *equal.values()])
        return cursor.fetchall()


# The staging tables each database session holds for sure (created and committed), by psycopg connection.
_STAGES_READY: "weakref.WeakKeyDictionary[Any, set[str]]" = weakref.WeakKeyDictionary()
_STAGED = ((Product, PRODUCT_COLUMNS), (Offer, OFFER_COLUMNS))


def _create_stage(stage: str, table: str, names: str) -> str:
    create = f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
    create += f"SELECT {names} FROM {table} WITH NO DATA"  # noqa: S608
    # Emptied too, for a caller whose earlier upsert in the same transaction left rows behind.
    return f"{create}; DELETE FROM {stage}"  # noqa: S608


def _prepare_stages() -> None:
    """PostgreSQL, outside a transaction: create the staging tables once for the session.

    At each page, CREATE … IF NOT EXISTS cost a planned statement and a round trip. Made
    here in autocommit, they surely exist for the rest of the session; inside a caller's
    transaction (which could roll back and take them along) _copy_upsert creates them each time.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        ready = _STAGES_READY.setdefault(cursor.cursor.connection, set())
        for model, columns in _STAGED:
            stage = quote(f"magflow_stage_{model._meta.db_table}")
            if stage not in ready:
                names = ", ".join(quote(column) for column in columns)
                cursor.execute(_create_stage(stage, quote(model._meta.db_table), names))
                ready.add(stage)


def _copy_rows(cursor: Any, statement: str, rows: list[tuple], json_positions: list[int]) -> None:
    """Stream the rows through COPY … FROM STDIN in its text format, with psycopg's C row writer."""
    # The text format hands every value to the column's input function, so a JSON column
    # takes the JSON text itself: a _JsonText (already serialised by the parser) as it is.
    with cursor.cursor.copy(statement) as copy:
        for row in rows:
            if json_positions:
                row = list(row)
                for index in json_positions:
                    value = row[index]
                    if value is not None and type(value) is not _JsonText:
                        row[index] = _json_text(value)
            copy.write_row(row)


class _JsonText(str):
    """A value already serialised as JSON text, for a JSON column of _copy_upsert."""


def _json_text(value: Any) -> str:
    """JSON text of a JSON-able value: orjson, or the standard library for what orjson does not take."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _pages_in(ranges: list[PageRange]) -> Any:
    query = SyncPage.objects.none()
    for item in ranges:
        query = query | SyncPage.objects.filter(run_id=item.run_id, number__gte=item.first, number__lte=item.last)
    return query


def _carry(run: SyncRun, prefix: list[PageRange]) -> None:
    """Start the run's counters from the pages it stands on."""
    if not prefix:
        return
    totals = _pages_in(prefix).aggregate(**{name: Sum(name) for name in _COUNTERS})
    for name in _COUNTERS:
        setattr(run, name, totals[name] or 0)
    run.pages_done = _pages_in(prefix).count()


# --- The engine ------------------------------------------------------------------------------------------------


class _Heartbeat(threading.Thread):
    """Refreshes the run's heartbeat on its own connection, also while the sync waits on eMAG or the limiter."""

    def __init__(self, run_id: int, token: str, interval: float) -> None:
        super().__init__(name=f"sync-heartbeat-{run_id}", daemon=True)
        self.run_id = run_id
        self.token = token
        self.interval = interval
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                beats = SyncRun.objects.filter(pk=self.run_id, status=SyncRun.Status.RUNNING, worker=self.token).update(
                    heartbeat_at=timezone.now()
                )
                if not beats:
                    self.lost = True
                    return
        except Exception:
            logger.exception("heartbeat of sync run #%s failed", self.run_id)
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


class PageReader:
    """Reads pages for the engine; with `prefetch`, the next pages are read while the current one is written.

    Each of `threads` background threads has its own client (the first is the engine's; the
    others are its twins, with their own connections and figures) and makes its eMAG calls one
    after another; pages go to the threads in turn. With two, one thread's request waits for
    eMAG while the other parses the page before, and every request still goes through the
    account's rate limiter, which all of them share. A page is read ahead only when the
    caller knows it exists, so no request is wasted. Each thread's own database connection
    (ApiCall rows, the limiter) is closed with it. Used on PostgreSQL only: SQLite
    serialises writers anyway.
    """

    def __init__(self, client: EmagClient, page_size: int, *, prefetch: bool, threads: int = 1) -> None:
        self.clients = [client]
        self.page_size = page_size
        self.executors: list[ThreadPoolExecutor] = []
        if prefetch:
            self.clients += [client.twin() for _ in range(max(1, threads) - 1)]
            self.executors = [
                ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sync-reader-{number}")
                for number in range(len(self.clients))
            ]
        self.pending: dict[int, Future] = {}

    @property
    def prefetching(self) -> bool:
        return bool(self.executors)

    def read(
        self, page: int, lookahead: int | Iterable[int] | None = None
    ) -> tuple[list, list[ParsedOffer | Rejection]]:
        """The page's raw records and their parse (done by a reader's thread while the caller writes)."""
        future = self.pending.pop(page, None)
        if not self.executors:
            return self._fetch(self.clients[0], page)
        if future is None:
            future = self._submit(page)
        for ahead in [lookahead] if isinstance(lookahead, int) else lookahead or ():
            if ahead not in self.pending:
                self.pending[ahead] = self._submit(ahead)
        return future.result()

    def _submit(self, page: int) -> Future:
        number = page % len(self.executors)
        return self.executors[number].submit(self._fetch, self.clients[number], page)

    def _fetch(self, client: EmagClient, page: int) -> tuple[list, list[ParsedOffer | Rejection]]:
        records = client.read_offers(page=page, per_page=self.page_size)
        return records, [parse_offer(record) for record in records]

    def call(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        """Another call of the engine's client, made by the first reader's thread (the client's own)."""
        if not self.executors:
            return method(**kwargs)
        return self.executors[0].submit(method, **kwargs).result()

    def stats(self) -> ClientStats:
        """The figures of every reader's client together."""
        return ClientStats(
            *(sum(getattr(client.stats, figure.name) for client in self.clients) for figure in fields(ClientStats))
        )

    def close(self) -> None:
        for future in self.pending.values():
            future.cancel()
        self.pending.clear()
        for executor in self.executors:
            executor.submit(connections.close_all).result()
            executor.shutdown(wait=True)
        for twin in self.clients[1:]:
            twin.close()


class PageWriters:
    """Stores pages on several threads, each with its own database connection, so pages overlap.

    A page's write is mostly the database's work (COPY, index upkeep, the upsert, the commit),
    during which Python waits; with one writer the next page waited too. Pages still commit
    one transaction each; they may commit out of order, which the run already allows for:
    `last_committed_page` is the end of the contiguous prefix of committed pages (a resume
    reads again whatever lies after a gap), and the run's counters are incremented by each
    page's own transaction, so they always equal the sum of the committed pages.

    The queue is bounded (one page waiting per writer), so memory stays flat. After a failure
    the pages still queued are dropped (not stored) and the error is raised to the engine
    once, at its next `submit`, `check` or `wait`.
    """

    def __init__(self, store: Callable[..., None], count: int) -> None:
        self._store = store
        self._queue: queue.Queue = queue.Queue(maxsize=count)
        self._changed = threading.Condition()
        self._pending = 0
        self._failed = False
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._work, name=f"sync-writer-{number}", daemon=True) for number in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, *page: Any) -> None:
        self.check()
        with self._changed:
            self._pending += 1
        self._queue.put(page)

    def wait(self) -> None:
        """Until every page submitted so far is stored (or dropped after a failure); then `check`."""
        with self._changed:
            self._changed.wait_for(lambda: self._pending == 0)
        self.check()

    def check(self) -> None:
        """Raise a writer's error, once."""
        with self._changed:
            error, self._error = self._error, None
        if error is not None:
            raise error

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        try:
            _prepare_stages()
            while (page := self._queue.get()) is not None:
                try:
                    if not self._failed:
                        self._store(*page)
                except BaseException as exc:  # ClaimLost, a database outage: the engine decides
                    with self._changed:
                        if not self._failed:
                            self._failed = True
                            self._error = exc
                finally:
                    with self._changed:
                        self._pending -= 1
                        self._changed.notify_all()
        finally:
            connections.close_all()


class _Engine:
    def __init__(
        self,
        account: SellerAccount,
        run: SyncRun,
        *,
        prefix: list[PageRange],
        max_pages: int | None,
        page_size: int,
        dry_run: bool,
        client: EmagClient | None,
        progress: Progress | None,
        lock_is_real: bool = False,
    ) -> None:
        self.account = account
        # Whether the account's advisory lock keeps every other sync of it out (PostgreSQL).
        self.lock_is_real = lock_is_real
        self.run = run
        self.prefix = prefix
        self.max_pages = max_pages
        self.page_size = page_size
        self.dry_run = dry_run
        self.client = client
        self.progress = progress
        self.token = run.worker
        self.seen = IdSet()
        self.unidentified = 0
        self.committed: set[int] = set()
        self.failed: dict[int, str] = {}
        self.base_stats = (run.requests_made, run.retries, run.throttled, run.rate_limit_wait_seconds)
        self.heartbeat: _Heartbeat | None = None
        self.count_at_end: int | None = None
        self.reader: PageReader | None = None
        self.writers: PageWriters | None = None
        # Guards what the writers' threads update after a commit: the run's counters, `committed`.
        self.lock = threading.Lock()
        # Offers this run created since the table's planner statistics were last refreshed (_refresh_statistics).
        self.created_since_analyze = 0
        self.rows_at_analyze: int | None = None

    # --- the run as a whole ---

    def execute(self) -> None:
        run = self.run
        logger.info(
            "sync run #%s of account %s started at page %s%s",
            run.pk,
            self.account.name,
            run.last_committed_page + 1,
            " (dry run)" if self.dry_run else "",
        )
        # Inside a caller's transaction (tests) nothing commits, so another connection could not beat for us.
        if not connection.in_atomic_block:
            interval = max(1.0, settings.SYNC_HEARTBEAT_STALE_SECONDS / 4)
            self.heartbeat = _Heartbeat(run.pk, self.token, interval)
            self.heartbeat.start()
        own_client = self.client is None
        try:
            if own_client:
                self.client = EmagClient(self.account, run=run)
            elif getattr(self.client, "run", None) is None:
                self.client.run = run  # so its ApiCall rows belong to this run
            self.reader = PageReader(
                self.client,
                self.page_size,
                prefetch=connection.vendor == "postgresql" and not connection.in_atomic_block,
                threads=settings.SYNC_READERS,
            )
            self._load_prefix()
            _prepare_stages()
            if self.reader.prefetching and settings.SYNC_WRITERS > 1:
                self.writers = PageWriters(self._store_page, settings.SYNC_WRITERS)
            self._sync()
        except ClaimLost:
            logger.warning("sync run #%s of account %s lost its claim; stopping", run.pk, self.account.name)
        except KeyboardInterrupt:
            self._finish(SyncRun.Status.CANCELLED, "interrupted", "Interrupted (Ctrl-C or a stop signal).")
            raise
        except Exception as exc:
            logger.exception("sync run #%s of account %s failed", run.pk, self.account.name)
            self._finish(SyncRun.Status.FAILED, "internal_error", f"{type(exc).__name__}: {exc}"[:2000])
        finally:
            if self.writers is not None:
                self.writers.close()
            if self.reader is not None:
                self.reader.close()
            if self.heartbeat is not None:
                self.heartbeat.stop()
            if own_client and self.client is not None:
                self.client.close()

    def _load_prefix(self) -> None:
        if not self.prefix:
            return
        for emag_ids in _pages_in(self.prefix).values_list("emag_ids", flat=True).iterator(chunk_size=200):
            for emag_id in emag_ids:
                self.seen.add(emag_id)
        for item in self.prefix:
            self.committed.update(range(item.first, item.last + 1))
        self.unidentified = SyncError.objects.filter(
            run_id__in=[item.run_id for item in self.prefix],
            index__isnull=False,
            emag_id__isnull=True,
            page__lte=self.run.last_committed_page,
        ).count()

    def _sync(self) -> None:
        run = self.run
        count_at_start = self._count()
        if isinstance(count_at_start, EmagError):
            return self._finish_fatal(count_at_start)
        if count_at_start is not None:
            run.expected_total = count_at_start
            SyncRun.objects.filter(pk=run.pk).update(expected_total=count_at_start)

        page = run.last_committed_page + 1
        pages_read = 0
        consecutive_failures = 0
        reached_end = False
        stop_reason = ""
        expected_pages = -(-count_at_start // self.page_size) if count_at_start is not None else None
        while True:
            if self.max_pages is not None and pages_read >= self.max_pages:
                stop_reason = "max_pages"
                break
            if self._cancel_requested():
                stop_reason = "cancelled"
                break
            if expected_pages is not None and page > expected_pages + EXTRA_PAGES_ALLOWED:
                stop_reason = "runaway"
                break
            # Read the next page while this one is written, when it surely exists.
            # Two pages ahead: reading (the sandbox or eMAG, and parsing) and writing take about as long
            # each, so one page of slack keeps a slow page on one side from stalling the other.
            lookahead = [
                ahead
                for ahead in (page + 1, page + 2)
                if expected_pages is not None
                and ahead <= expected_pages
                and (self.max_pages is None or pages_read + (ahead - page) < self.max_pages)
            ]
            try:
                records, parsed = self.reader.read(page, lookahead)
            except FATAL_ERRORS as exc:
                return self._finish_fatal(exc)
            except EmagError as exc:
                consecutive_failures += 1
                self._record_failed_page(page, exc)
                if consecutive_failures >= settings.SYNC_MAX_CONSECUTIVE_FAILED_PAGES:
                    return self._finish(
                        SyncRun.Status.FAILED,
                        PAGE_FAILED,
                        f"{consecutive_failures} pages in a row could not be read (pages "
                        f"{page - consecutive_failures + 1}–{page}); the last error: {exc}",
                    )
                page += 1
                continue
            pages_read += 1
            consecutive_failures = 0
            self._commit_page(page, records, parsed)
            if len(records) < self.page_size:
                reached_end = True
                break
            if expected_pages is not None and page >= expected_pages:
                # eMAG's count says that was the last page: a count costs the same request as the
                # empty page after it, and checks the total too. Read on only if offers were added.
                self._wait_for_writers()  # the check below compares the records of every stored page
                count_now = self._count()
                if isinstance(count_now, EmagError):
                    return self._finish_fatal(count_now)
                if count_now is not None and count_now <= run.fetched:
                    self.count_at_end = count_now
                    reached_end = True
                    break
            page += 1

        self._wait_for_writers()
        if stop_reason == "cancelled":
            return self._finish(SyncRun.Status.CANCELLED, "cancelled", "Cancelled on request.")

        # One more try for each page that failed: eMAG's bad streaks are often over by now.
        for number in sorted(self.failed):
            if self._cancel_requested():
                return self._finish(SyncRun.Status.CANCELLED, "cancelled", "Cancelled on request.")
            try:
                records, parsed = self.reader.read(number)
            except FATAL_ERRORS as exc:
                return self._finish_fatal(exc)
            except EmagError as exc:
                self.failed[number] = str(exc)
                continue
            self._commit_page(number, records, parsed, healed=True)

        rejected = run.rejected
        if self.failed:
            pages = ", ".join(str(number) for number in sorted(self.failed))
            last_error = self.failed[max(self.failed)]
            return self._finish(
                SyncRun.Status.PARTIAL,
                PAGE_FAILED,
                f"{len(self.failed)} page(s) could not be read after retries: {pages}. Last error: {last_error}. "
                "Nothing was marked vanished; run again (or --resume) to fill the gap.",
            )
        if stop_reason == "runaway":
            return self._finish(
                SyncRun.Status.PARTIAL,
                "count_mismatch",
                f"eMAG kept answering full pages {EXTRA_PAGES_ALLOWED} pages past its own count "
                f"({count_at_start} offers); stopped at page {page}.",
            )
        success = SyncRun.Status.COMPLETED_WITH_REJECTIONS if rejected else SyncRun.Status.COMPLETED
        if stop_reason == "max_pages" or not reached_end:
            return self._finish(
                success,
                notes=f"Stopped after {self.max_pages} page(s) as asked (max_pages); the pages after "
                f"{run.last_committed_page} were not read, so no offer was marked vanished.",
            )

        count_at_end = self.count_at_end if self.count_at_end is not None else self._count()
        if isinstance(count_at_end, EmagError):
            return self._finish_fatal(count_at_end)
        notes = []
        can_deactivate = True
        if count_at_end is not None and run.fetched < count_at_end:
            return self._finish(
                SyncRun.Status.PARTIAL,
                "count_mismatch",
                f"eMAG counts {count_at_end} offers but the run read {run.fetched} records: the catalogue "
                "changed while it was read. Nothing was marked vanished; run again.",
                full_read=True,
            )
        if count_at_start is None or count_at_end is None:
            can_deactivate = False
            notes.append("eMAG's count could not be read, so the total could not be checked.")
        elif not count_at_start == count_at_end == run.fetched:
            can_deactivate = False
            notes.append(
                f"eMAG's count moved while the run read ({count_at_start} at the start, {count_at_end} at the end, "
                f"{run.fetched} records read): the catalogue changed during the sync."
            )
        if self.unidentified:
            can_deactivate = False
            notes.append(f"{self.unidentified} record(s) had no readable id, so it is unknown which offers they were.")
        if len(self.seen) + self.unidentified != run.fetched:  # a repeated id took the place of another offer
            can_deactivate = False
            notes.append("Some records repeated an id already read, so the offers they displaced were not seen.")
        deactivated = 0
        if can_deactivate:
            deactivated = self._deactivate_unseen()
        else:
            notes.append("No offer was marked vanished by this run.")
        self._finish(
            success, notes=" ".join(notes), full_read=True, deactivated=deactivated, deactivation_ran=can_deactivate
        )

    # --- pages ---

    def _count(self) -> int | None | EmagError:
        """eMAG's offer count; None when it cannot be read (the run goes on), the error when it is fatal."""
        try:
            return self.reader.call(self.client.count_offers).items
        except FATAL_ERRORS as exc:
            return exc
        except EmagError as exc:
            with transaction.atomic():
                SyncError.objects.create(
                    run=self.run, reason_code=COUNT_FAILED, message=f"product_offer/count failed: {exc}"[:2000]
                )
                self._save_progress()
            return None

    def _cancel_requested(self) -> bool:
        if self.heartbeat is not None and self.heartbeat.lost:
            raise ClaimLost()
        return bool(SyncRun.objects.filter(pk=self.run.pk).values_list("cancel_requested", flat=True).first())

    def _record_failed_page(self, number: int, exc: EmagError) -> None:
        logger.warning("sync run #%s: page %s failed after retries: %s", self.run.pk, number, exc)
        self.failed[number] = str(exc)
        self.run.failed_pages = len(self.failed)
        with transaction.atomic():
            SyncError.objects.create(
                run=self.run,
                page=number,
                reason_code=PAGE_FAILED,
                message=f"Page {number} could not be read after the client's retries: {exc}"[:2000],
            )
            self._save_progress()

    def _commit_page(
        self, number: int, records: list, parsed: list[ParsedOffer | Rejection], *, healed: bool = False
    ) -> None:
        """Sort the page's records (in this thread: the ids seen so far are its own), then store it.

        With writers, the page is stored by one of their threads while the next page is read.
        """
        result = self._classify(number, records, parsed)
        self.unidentified += result.unidentified
        if self.writers is not None and not healed:
            self.writers.submit(number, result)
        else:
            self._store_page(number, result, healed=healed)

    def _wait_for_writers(self) -> None:
        if self.writers is not None:
            self.writers.wait()

    def _store_page(self, number: int, result: PageResult, *, healed: bool = False) -> None:
        """The page's offers, its SyncPage and SyncError rows and the run's progress, in one transaction."""
        run = self.run
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # A page is data eMAG still holds: if the database server itself crashed in the
                # next fraction of a second, the page and the run's progress would vanish together
                # and a resume would read it again. Not waiting for the disk at each page commit
                # is worth that (the data stays consistent either way).
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            self._write(number, result)
            SyncPage.objects.create(
                run=run,
                number=number,
                emag_ids=result.emag_ids,
                fetched=result.fetched,
                created=result.created,
                updated=result.updated,
                unchanged=result.unchanged,
                rejected=result.rejected,
            )
            if result.errors:
                SyncError.objects.bulk_create(result.errors)
            if healed:
                SyncError.objects.filter(run=run, page=number, reason_code=PAGE_FAILED).delete()
            with self.lock:
                committed_through = run.last_committed_page
                while committed_through + 1 in self.committed or committed_through + 1 == number:
                    committed_through += 1
            self._save_progress(result, committed_through)
        with self.lock:
            if healed:
                self.failed.pop(number, None)
                run.failed_pages = len(self.failed)
            for name in _COUNTERS:
                setattr(run, name, getattr(run, name) + getattr(result, name))
            run.pages_done += 1
            self.committed.add(number)
            while run.last_committed_page + 1 in self.committed:
                run.last_committed_page += 1
            if self.progress is not None:
                self.progress(run)
            self.created_since_analyze += result.created
            analyze = self._statistics_stale()
        if analyze:
            self._refresh_statistics()

    def _statistics_stale(self) -> bool:
        """Whether the offers this run created make the offer table's planner statistics misleading (under self.lock).

        Each page looks its offers up by (account, eMAG id). PostgreSQL's statistics of a table
        that was empty when they were last taken say the account has a few dozen rows, so the
        planner reads every one of the account's rows instead of probing the unique index: a
        first sync into an empty table then slows down as it grows (10 ms per page at 10,000
        offers, and growing with the table), and autovacuum looks at most once a minute. So the run refreshes
        them itself, each time it has grown the table by half (at least SYNC_ANALYZE_ROWS offers):
        about ten times in a first sync of 100,000, never in a sync that creates few.
        """
        if self.dry_run or connection.vendor != "postgresql":
            return False
        if self.rows_at_analyze is None:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass",
                    [Offer._meta.db_table],
                )
                self.rows_at_analyze = cursor.fetchone()[0]
        if self.created_since_analyze < max(SYNC_ANALYZE_ROWS, self.rows_at_analyze // 2):
            return False
        self.rows_at_analyze += self.created_since_analyze
        self.created_since_analyze = 0
        return True

    def _refresh_statistics(self) -> None:
        """ANALYZE the columns the page lookup filters on (and the table's size), outside any page transaction."""
        started = time.monotonic()
        try:
            with transaction.atomic(), connection.cursor() as cursor:  # a savepoint inside a caller's transaction
                cursor.execute(f"ANALYZE {connection.ops.quote_name(Offer._meta.db_table)} (account_id, emag_id)")
        except DatabaseError as exc:  # statistics are an optimisation: the run goes on without them
            logger.warning("sync run #%s: could not refresh the offer table's statistics: %s", self.run.pk, exc)
            return
        logger.info(
            "sync run #%s: refreshed the offer table's statistics (about %s rows) in %.0f ms",
            self.run.pk,
            self.rows_at_analyze,
            (time.monotonic() - started) * 1000,
        )

    def _take_client_figures(self) -> None:
        """The run's request figures: those it started with plus what this process's clients counted."""
        if self.reader is not None:
            stats = self.reader.stats()
        elif self.client is not None:
            stats = self.client.stats
        else:
            return
        run = self.run
        run.requests_made = self.base_stats[0] + stats.requests
        run.retries = self.base_stats[1] + stats.retries
        run.throttled = self.base_stats[2] + stats.throttled
        run.rate_limit_wait_seconds = round(self.base_stats[3] + stats.wait_seconds, 3)

    def _save_progress(self, page: PageResult | None = None, committed_through: int | None = None) -> None:
        """The run's heartbeat, request figures and a stored page's counts (inside that page's transaction).

        Only while the run is still ours. Counts are added to the row's own (several writers
        commit pages in any order); figures that only grow are never written back smaller.
        """
        run = self.run
        self._take_client_figures()
        # (column, how, value): "set" it, keep the "max" of the row's and this one, or "add" to the row's.
        terms: list[tuple[str, str, Any]] = [("heartbeat_at", "set", timezone.now())]
        terms += [(name, "max", getattr(run, name)) for name in _GROWING_FIGURES]
        if page is not None:
            terms += [(name, "add", getattr(page, name)) for name in _COUNTERS]
            terms += [("pages_done", "add", 1), ("last_committed_page", "max", committed_through)]
        else:
            terms.append(("failed_pages", "set", run.failed_pages))  # only the engine's thread changes it
        ours = {"pk": run.pk, "status": SyncRun.Status.RUNNING, "worker": self.token}
        if connection.vendor == "postgresql":
            # Written out: the ORM compiled the F() and Greatest() terms anew at every page, 2.3 ms of
            # the GIL that the reader and the writers share.
            sql = {"set": "{0} = %s", "max": "{0} = GREATEST({0}, %s)", "add": "{0} = {0} + %s"}
            assignments = ", ".join(sql[how].format(name) for name, how, _ in terms)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {SyncRun._meta.db_table} SET {assignments} WHERE id = %s AND status = %s AND worker = %s",  # noqa: S608
                    [*(value for _, _, value in terms), *ours.values()],
                )
                saved = cursor.rowcount
        else:
            expression = {"set": lambda name, value: value, "max": lambda name, value: Greatest(F(name), value)}
            expression["add"] = lambda name, value: F(name) + value
            fields = {name: expression[how](name, value) for name, how, value in terms}
            saved = SyncRun.objects.filter(**ours).update(**fields)
        if not saved:
            raise ClaimLost()

    def _classify(self, number: int, records: list, parse: list[ParsedOffer | Rejection]) -> PageResult:
        """Drop repeats from the parsed page and keep its rejections; the good records go on to be written."""
        result = PageResult(fetched=len(records))
        for index, (record, parsed) in enumerate(zip(records, parse, strict=True)):
            if isinstance(parsed, ParsedOffer) and parsed.emag_id in self.seen:
                parsed = Rejection(
                    Reason.DUPLICATE_ID,
                    f"id {parsed.emag_id} was already read in this sync; the first record read is kept",
                    emag_id=parsed.emag_id,
                    sku=parsed.sku,
                )
            if isinstance(parsed, Rejection):
                self._reject(result, number, index, parsed, record)
                continue
            self.seen.add(parsed.emag_id)
            result.emag_ids.append(parsed.emag_id)
            result.valid.append((index, parsed))
        return result

    def _reject(self, result: PageResult, number: int, index: int, rejection: Rejection, record: Any) -> None:
        result.rejected += 1
        if rejection.emag_id is None:
            result.unidentified += 1
        elif self.seen.add(rejection.emag_id):
            # A record refused for its content is still an offer eMAG holds: never mark it vanished.
            result.emag_ids.append(rejection.emag_id)
        result.errors.append(
            SyncError(
                run=self.run,
                page=number,
                index=index,
                emag_id=rejection.emag_id,
                sku=rejection.sku[:255],
                reason_code=rejection.reason_code,
                message=rejection.message[:2000],
                record=record_excerpt(record),
            )
        )

    def _write(self, number: int, result: PageResult) -> None:
        """Upsert the page's new and changed offers (and their products) in bulk; fall back record by record.

        A dry run stops after sorting the records: it counts what would change and writes nothing.
        """
        valid = result.valid
        if not valid:
            return
        existing = {
            emag_id: (content_hash, is_present)
            for emag_id, content_hash, is_present in _rows_by_keys(
                Offer,
                "emag_id",
                [parsed.emag_id for _, parsed in valid],
                ("emag_id", "content_hash", "is_present"),
                account_id=self.account.pk,
            )
        }
        changed: list[tuple[int, ParsedOffer, bool]] = []
        for index, parsed in valid:
            known = existing.get(parsed.emag_id)
            if known is not None and known[0] == parsed.offer_hash and known[1]:
                result.unchanged += 1
            else:
                changed.append((index, parsed, known is None))
        if not changed:
            return
        if self.dry_run:
            # What would change, and nothing written.
            result.created += sum(1 for _, _, is_new in changed if is_new)
            result.updated += sum(1 for _, _, is_new in changed if not is_new)
            return
        now = timezone.now()
        try:
            with transaction.atomic():
                # Offers new to the account (a first sync) need no conflict handling: this run holds
                # the account's lock and is the only writer of its offers.
                all_new = all(is_new for _, _, is_new in changed)
                self._upsert([parsed for _, parsed, _ in changed], now, all_new=all_new)
        except Exception as exc:
            logger.warning(
                "sync run #%s page %s: bulk write failed (%s); writing record by record", self.run.pk, number, exc
            )
            for index, parsed, is_new in changed:
                try:
                    with transaction.atomic():
                        self._upsert([parsed], now)
                except Exception as record_exc:
                    self._reject(
                        result,
                        number,
                        index,
                        Rejection(
                            Reason.DATABASE_ERROR,
                            f"the database refused the record: {type(record_exc).__name__}: {record_exc}"[:2000],
                            emag_id=parsed.emag_id,
                            sku=parsed.sku,
                        ),
                        parsed.raw,
                    )
                    # The id was seen; it stays listed for the page, but not as stored.
                    continue
                if is_new:
                    result.created += 1
                else:
                    result.updated += 1
            return
        for _, _, is_new in changed:
            if is_new:
                result.created += 1
            else:
                result.updated += 1

    def _upsert(self, parsed_offers: list[ParsedOffer], now: Any, *, all_new: bool = False) -> None:
        """INSERT … ON CONFLICT for the products whose content changed, then for the offers."""
        products: dict[str, ParsedOffer] = {}
        for parsed in parsed_offers:
            products[parsed.sku] = parsed  # the page's last record of a SKU describes it
        known = {
            sku: (pk, content_hash)
            for sku, pk, content_hash in _rows_by_keys(Product, "sku", list(products), ("sku", "id", "content_hash"))
        }
        # One order for every writer (by SKU): two accounts sharing products cannot deadlock.
        stale = [
            parsed
            for sku, parsed in sorted(products.items())
            if sku not in known or known[sku][1] != parsed.product_hash
        ]
        if stale and connection.vendor == "postgresql":
            rows = [(*(parsed.product[name] for name in PRODUCT_COLUMNS[:-2]), now, now) for parsed in stale]
            returned = None
            if not any(parsed.sku in known for parsed in stale):
                returned = _copy_new_products(rows, [parsed.sku for parsed in stale])
            if returned is None:
                returned = _copy_upsert(
                    Product,
                    PRODUCT_COLUMNS,
                    rows,
                    conflict=["sku"],
                    update=[*PRODUCT_FIELDS, "updated_at"],
                    returning=["sku", "id"],
                )
            known.update({sku: (pk, "") for sku, pk in returned})
        elif stale:
            Product.objects.bulk_create(
                [Product(**parsed.product) for parsed in stale],
                update_conflicts=True,
                unique_fields=["sku"],
                update_fields=[*PRODUCT_FIELDS, "updated_at"],
            )
            missing = [parsed.sku for parsed in stale if parsed.sku not in known]
            if missing:
                known.update(
                    {sku: (pk, "") for sku, pk in Product.objects.filter(sku__in=missing).values_list("sku", "pk")}
                )
        ordered = sorted(parsed_offers, key=lambda item: item.emag_id)
        if connection.vendor == "postgresql":
            _copy_upsert(
                Offer,
                OFFER_COLUMNS,
                [
                    (
                        self.account.pk,
                        known[parsed.sku][0],
                        parsed.emag_id,
                        *(parsed.offer[name] for name in OFFER_FIELDS_BUT_RAW),
                        _JsonText(parsed.raw_json) if parsed.raw_json else parsed.offer["raw"],
                        now,
                        now,
                        now,
                        True,
                    )
                    for parsed in ordered
                ],
                conflict=["account_id", "emag_id"],
                update=["product_id", *OFFER_FIELDS, "last_changed_at", "last_seen_at", "is_present"],
                direct=all_new and self.lock_is_real,
            )
            return
        offers = []
        for parsed in ordered:
            values = {name: parsed.offer[name] for name in OFFER_FIELDS}
            offers.append(
                Offer(
                    account=self.account,
                    emag_id=parsed.emag_id,
                    product_id=known[parsed.sku][0],
                    first_seen_at=now,
                    last_changed_at=now,
                    last_seen_at=now,
                    is_present=True,
                    **values,
                )
            )
        Offer.objects.bulk_create(
            offers,
            update_conflicts=True,
            unique_fields=["account", "emag_id"],
            update_fields=OFFER_UPDATE_FIELDS,
        )

    # --- the end ---

    def _deactivate_unseen(self) -> int:
        """Mark present offers of the account that no page of this pass listed as not present."""
        if self.dry_run:
            return sum(
                1
                for emag_id in Offer.objects.filter(account=self.account, is_present=True)
                .values_list("emag_id", flat=True)
                .iterator(chunk_size=2000)
                if emag_id not in self.seen
            )
        vanished: list[int] = []
        for pk, emag_id in (
            Offer.objects.filter(account=self.account, is_present=True)
            .values_list("pk", "emag_id")
            .iterator(chunk_size=2000)
        ):
            if emag_id not in self.seen:
                vanished.append(pk)
        now = timezone.now()
        total = 0
        for start in range(0, len(vanished), 500):
            total += Offer.objects.filter(pk__in=vanished[start : start + 500], is_present=True).update(
                is_present=False, last_changed_at=now
            )
        if total:
            logger.info("sync run #%s: %s offers no longer on eMAG marked not present", self.run.pk, total)
        return total

    def _finish_fatal(self, exc: EmagError) -> None:
        hint = ""
        if isinstance(exc, EmagAuthError):
            hint = " Check the account's API username and password (emag_account test)."
        elif isinstance(exc, EmagIPNotAllowed):
            hint = " Add this machine's IP address to the account's API whitelist."
        self._finish(SyncRun.Status.FAILED, exc.outcome, f"{exc}{hint}"[:2000])

    def _finish(
        self,
        status: str,
        error_code: str = "",
        error_message: str = "",
        *,
        notes: str = "",
        full_read: bool = False,
        deactivated: int = 0,
        deactivation_ran: bool = False,
    ) -> None:
        """Write the run's end state (only while it is ours) and the account's last-sync fields."""
        try:
            self._wait_for_writers()  # the pages in flight commit (or fail) first
        except ClaimLost:
            raise
        except Exception as exc:  # a page's write failed while the run was ending: it cannot end well
            logger.exception("sync run #%s: a page could not be stored", self.run.pk)
            if status != SyncRun.Status.FAILED:
                status, error_code, error_message = (
                    SyncRun.Status.FAILED,
                    "internal_error",
                    f"A page could not be stored: {type(exc).__name__}: {exc}"[:2000],
                )
                notes, full_read, deactivated, deactivation_ran = "", False, 0, False
        run = self.run
        now = timezone.now()
        self._take_client_figures()
        with transaction.atomic():
            saved = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING, worker=self.token).update(
                status=status,
                finished_at=now,
                heartbeat_at=now,
                error_code=error_code[:64],
                error_message=error_message,
                notes=notes,
                is_full_read=full_read,
                deactivated=deactivated,
                failed_pages=len(self.failed),
                # Pages may commit out of order: a page's own write can lag; the whole prefix is known now.
                last_committed_page=Greatest(F("last_committed_page"), run.last_committed_page),
                requests_made=run.requests_made,
                retries=run.retries,
                throttled=run.throttled,
                rate_limit_wait_seconds=run.rate_limit_wait_seconds,
            )
            if not saved:
                logger.warning("sync run #%s is no longer ours; its end state was not written", run.pk)
                return
            if not run.is_dry_run:
                account_fields = {"last_sync_at": now, "last_sync_status": status}
                if deactivation_ran:
                    # Only then were all offers still marked present really seen by this run.
                    account_fields["last_full_sync_at"] = now
                SellerAccount.objects.filter(pk=self.account.pk).update(**account_fields)
        logger.info(
            "sync run #%s of account %s ended %s: %s fetched, %s created, %s updated, %s unchanged, %s rejected, "
            "%s deactivated%s",
            run.pk,
            self.account.name,
            status,
            run.fetched,
            run.created,
            run.updated,
            run.unchanged,
            run.rejected,
            deactivated,
            f" ({error_message})" if error_message else "",
        )
