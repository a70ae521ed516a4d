"""One rate limiter per eMAG seller account, shared by every process and machine.

eMAG allows each account 3 requests/s and 180/min for everything but orders, and
12/s and 720/min for `order/*` (counted separately). Every process that calls eMAG
(the web server, each django-q2 worker, a management command) asks `acquire()`
for a slot first, so the sum of all of them stays under the limit.

The state lives where all of them see it:
- the database (default): one `RateLimitBucket` row per account and bucket, locked
  with SELECT … FOR UPDATE (SQLite serialises writers with IMMEDIATE transactions,
  see settings), holding the send times of the last minute. Times come from the
  database clock on PostgreSQL so machines with skewed clocks agree; SQLite is a
  file on one machine, so its clock is this machine's.
- Redis when REDIS_URL is set: a sorted set of send times per account and bucket,
  checked and appended by one Lua script that reads Redis's own clock (TIME).

A request admitted at time t counts against windows of 1 s + MARGIN and
60 s + MARGIN rather than 1 s and 60 s (MARGIN: the setting
EMAG_RATE_LIMIT_MARGIN_SECONDS, 0.05 s by default, which costs about 5 % of the
throughput and keeps 10,000 offers within 5 % of the 34 s eMAG's limit allows).
Between the slot being granted and the request reaching eMAG there is
scheduling and network jitter; as long as that jitter stays under the margin, eMAG
never sees more than 3 requests in any one second.

Call it outside any transaction of your own (the client's callers do): inside one, the
bucket row stays locked until that transaction ends and other processes queue behind it.

Waiting is not an error: `acquire` sleeps until a slot is free and returns how
long it waited. Each wait adds a small random jitter (0–JITTER seconds) so that
processes woken together do not collide again, and so that calls spread off the
round times eMAG asks integrators to avoid.
"""

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction

logger = logging.getLogger(__name__)

ORDERS = "orders"
OTHER = "other"


@dataclass(frozen=True)
class Limit:
    per_second: int
    per_minute: int


LIMITS: dict[str, Limit] = {
    ORDERS: Limit(per_second=12, per_minute=720),
    OTHER: Limit(per_second=3, per_minute=180),
}

# Safety margin added to both windows (see the module docstring), and the upper
# bound of the random jitter added to every wait.
MARGIN_SECONDS = 0.05
JITTER_SECONDS = 0.02
# A process never sleeps longer than this in one go before looking again, so a
# reset() or a freed slot is noticed quickly.
MAX_SINGLE_SLEEP_SECONDS = 1.0

# Patched by tests that must not really sleep.
_sleep = time.sleep
_monotonic = time.monotonic


class RateLimiterUnavailable(Exception):
    """The limiter's shared state (the database or Redis) cannot be reached; nothing was sent."""


def _infrastructure_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [DatabaseError]
    try:
        import redis

        errors.append(redis.RedisError)
    except ImportError:  # pragma: no cover - redis is in requirements.txt
        pass
    return tuple(errors)


def bucket_for_route(route: str) -> str:
    """The bucket a route counts against: `order/*` has its own, everything else shares one."""
    return ORDERS if route.startswith("order/") or route == "order" else OTHER


def is_enabled() -> bool:
    return bool(getattr(settings, "EMAG_RATE_LIMIT_ENABLED", True))


def backend_name() -> str:
    if not is_enabled():
        return "disabled"
    return "redis" if getattr(settings, "REDIS_URL", "") else "database"


def _margin() -> float:
    return float(getattr(settings, "EMAG_RATE_LIMIT_MARGIN_SECONDS", MARGIN_SECONDS))


def _windows() -> tuple[float, float]:
    margin = _margin()
    return 1.0 + margin, 60.0 + margin


def _limit(bucket: str) -> Limit:
    try:
        return LIMITS[bucket]
    except KeyError:
        raise ValueError(f"unknown rate-limit bucket {bucket!r}; expected one of {sorted(LIMITS)}")


def _wait_needed(sends: list[float], now: float, limit: Limit) -> float:
    """Seconds until one more request fits both windows, given the sorted send times (0 if it fits now)."""
    second_window, minute_window = _windows()
    wait = 0.0
    in_second = [t for t in sends if t > now - second_window]
    if len(in_second) >= limit.per_second:
        # The request that must leave the window before ours fits.
        wait = max(wait, in_second[len(in_second) - limit.per_second] + second_window - now)
    in_minute = [t for t in sends if t > now - minute_window]
    if len(in_minute) >= limit.per_minute:
        wait = max(wait, in_minute[len(in_minute) - limit.per_minute] + minute_window - now)
    return wait


def _pause(seconds: float) -> None:
    _sleep(min(seconds, MAX_SINGLE_SLEEP_SECONDS) + random.uniform(0, JITTER_SECONDS))


def acquire(account_id: int, bucket: str) -> float:
    """Block until the account may send one request in this bucket; return the seconds waited."""
    limit = _limit(bucket)
    if not is_enabled():
        return 0.0
    backend = _redis_backend if getattr(settings, "REDIS_URL", "") else _database_backend
    started = _monotonic()
    waited = 0.0
    while True:
        try:
            wait = backend.try_acquire(account_id, bucket, limit, waited)
        except _infrastructure_errors() as exc:
            # Fail closed: without the shared state nobody can tell whether a slot is free.
            raise RateLimiterUnavailable(f"the {backend_name()} rate limiter is unavailable: {exc}") from exc
        if wait <= 0:
            if waited > 0:
                logger.debug("rate limiter: account %s bucket %s waited %.3f s", account_id, bucket, waited)
            return waited
        _pause(wait)
        waited = _monotonic() - started


def record_throttled(account_id: int, bucket: str) -> None:
    """Count a 429 from eMAG, and hold the bucket full for one window so every process slows down.

    eMAG counts the refused request too, and a 429 means something (perhaps another
    integration using the same account) is spending the budget: filling the current
    second makes all MagFlow processes pause together instead of each finding out alone.
    """
    limit = _limit(bucket)
    if not is_enabled():
        return
    backend = _redis_backend if getattr(settings, "REDIS_URL", "") else _database_backend
    try:
        backend.record_throttled(account_id, bucket, limit)
    except _infrastructure_errors() as exc:
        raise RateLimiterUnavailable(f"the {backend_name()} rate limiter is unavailable: {exc}") from exc


def stats(account_id: int) -> dict[str, Any]:
    """The limiter's figures for one account: counters since the last reset and the current usage."""
    result: dict[str, Any] = {"backend": backend_name(), "enabled": is_enabled(), "buckets": {}}
    backend = _redis_backend if getattr(settings, "REDIS_URL", "") else _database_backend
    for bucket, limit in LIMITS.items():
        figures = backend.stats(account_id, bucket, limit)
        figures["limit_per_second"] = limit.per_second
        figures["limit_per_minute"] = limit.per_minute
        figures["available_now"] = max(
            0,
            min(limit.per_second - figures["used_last_second"], limit.per_minute - figures["used_last_minute"]),
        )
        result["buckets"][bucket] = figures
    return result


def reset(account_id: int | None = None) -> None:
    """Forget the send times and counters of one account, or of every account."""
    _database_backend.reset(account_id)
    if getattr(settings, "REDIS_URL", ""):
        _redis_backend.reset(account_id)


# --- Database backend ------------------------------------------------------------------------------------------


class _DatabaseBackend:
    def now(self) -> float:
        """Epoch seconds from a clock all processes share."""
        if connection.vendor == "postgresql":
            # clock_timestamp(), not now(): now() is frozen at the start of the transaction.
            with connection.cursor() as cursor:
                cursor.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())")
                return float(cursor.fetchone()[0])
        return time.time()

    def _row(self, account_id: int, bucket: str) -> Any:
        from emag.models import RateLimitBucket

        try:
            return RateLimitBucket.objects.select_for_update().get(account_id=account_id, bucket=bucket)
        except RateLimitBucket.DoesNotExist:
            pass
        try:
            with transaction.atomic():
                RateLimitBucket.objects.create(account_id=account_id, bucket=bucket)
        except IntegrityError:
            pass  # Another process created it first; lock theirs.
        return RateLimitBucket.objects.select_for_update().get(account_id=account_id, bucket=bucket)

    def try_acquire(self, account_id: int, bucket: str, limit: Limit, waited: float) -> float:
        _, minute_window = _windows()
        with transaction.atomic():
            row = self._row(account_id, bucket)
            now = self.now()
            sends = sorted(t for t in row.recent if t > now - minute_window)
            wait = _wait_needed(sends, now, limit)
            if wait > 0:
                if sends != row.recent:
                    row.recent = sends
                    row.save(update_fields=["recent"])
                return wait
            sends.append(now)
            row.recent = sends
            row.requests += 1
            if waited > 0:
                row.waits += 1
                row.wait_seconds += waited
            row.save(update_fields=["recent", "requests", "waits", "wait_seconds"])
            return 0.0

    def record_throttled(self, account_id: int, bucket: str, limit: Limit) -> None:
        _, minute_window = _windows()
        with transaction.atomic():
            row = self._row(account_id, bucket)
            now = self.now()
            sends = sorted(t for t in row.recent if t > now - minute_window)
            in_second = sum(1 for t in sends if t > now - 1.0)
            sends.extend([now] * max(0, limit.per_second - in_second))
            row.recent = sorted(sends)
            row.throttled += 1
            row.save(update_fields=["recent", "throttled"])

    def stats(self, account_id: int, bucket: str, limit: Limit) -> dict[str, Any]:
        from emag.models import RateLimitBucket

        row = RateLimitBucket.objects.filter(account_id=account_id, bucket=bucket).first()
        if row is None:
            return _empty_figures()
        now = self.now()
        return {
            "requests": row.requests,
            "waits": row.waits,
            "wait_seconds": round(row.wait_seconds, 3),
            "throttled": row.throttled,
            "used_last_second": sum(1 for t in row.recent if now - 1.0 < t <= now + 1.0),
            "used_last_minute": sum(1 for t in row.recent if now - 60.0 < t <= now + 1.0),
            "counters_since": row.counters_since.isoformat(),
        }

    def reset(self, account_id: int | None) -> None:
        from emag.models import RateLimitBucket

        rows = RateLimitBucket.objects.all()
        if account_id is not None:
            rows = rows.filter(account_id=account_id)
        rows.delete()


def _empty_figures() -> dict[str, Any]:
    return {
        "requests": 0,
        "waits": 0,
        "wait_seconds": 0.0,
        "throttled": 0,
        "used_last_second": 0,
        "used_last_minute": 0,
        "counters_since": None,
    }


# --- Redis backend ---------------------------------------------------------------------------------------------

# KEYS: the sorted set of send times, the hash of counters.
# ARGV: per second, per minute, second window, minute window, a unique member suffix, seconds already waited.
# Returns "0" when the slot was taken, else the seconds to wait, as a string (Lua numbers become integers).
_ACQUIRE_SCRIPT = """
local sends, counters = KEYS[1], KEYS[2]
local per_second, per_minute = tonumber(ARGV[1]), tonumber(ARGV[2])
local second_window, minute_window = tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', sends, '-inf', now - minute_window)
local wait = 0
local in_second = redis.call('ZCOUNT', sends, '(' .. (now - second_window), '+inf')
if in_second >= per_second then
  local first = redis.call('ZRANGEBYSCORE', sends, '(' .. (now - second_window), '+inf', 'WITHSCORES',
                           'LIMIT', in_second - per_second, 1)
  wait = math.max(wait, tonumber(first[2]) + second_window - now)
end
local in_minute = redis.call('ZCARD', sends)
if in_minute >= per_minute then
  local first = redis.call('ZRANGE', sends, in_minute - per_minute, in_minute - per_minute, 'WITHSCORES')
  wait = math.max(wait, tonumber(first[2]) + minute_window - now)
end
if wait > 0 then
  return tostring(wait)
end
redis.call('ZADD', sends, now, string.format('%.6f', now) .. ':' .. ARGV[5])
redis.call('EXPIRE', sends, math.ceil(minute_window) + 5)
redis.call('HINCRBY', counters, 'requests', 1)
redis.call('HSETNX', counters, 'counters_since', string.format('%.6f', now))
local waited = tonumber(ARGV[6])
if waited > 0 then
  redis.call('HINCRBY', counters, 'waits', 1)
  redis.call('HINCRBYFLOAT', counters, 'wait_seconds', waited)
end
return '0'
"""

# KEYS: sends, counters. ARGV: per second, minute window, member suffix.
_THROTTLED_SCRIPT = """
local sends, counters = KEYS[1], KEYS[2]
local per_second, minute_window = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local in_second = redis.call('ZCOUNT', sends, '(' .. (now - 1), '+inf')
for i = 1, per_second - in_second do
  redis.call('ZADD', sends, now, string.format('%.6f', now) .. ':' .. ARGV[3] .. ':' .. i)
end
redis.call('EXPIRE', sends, math.ceil(minute_window) + 5)
redis.call('HINCRBY', counters, 'throttled', 1)
redis.call('HSETNX', counters, 'counters_since', string.format('%.6f', now))
return 'ok'
"""

_KEY_PREFIX = "magflow:ratelimit"


@lru_cache(maxsize=4)
def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


@lru_cache(maxsize=8)
def _script(client: Any, source: str) -> Any:
    """The script registered once per client: later calls send its SHA (EVALSHA), not its text."""
    return client.register_script(source)


class _RedisBackend:
    def _client(self) -> Any:
        return _redis_client(settings.REDIS_URL)

    def _keys(self, account_id: int, bucket: str) -> list[str]:
        return [f"{_KEY_PREFIX}:{account_id}:{bucket}:sends", f"{_KEY_PREFIX}:{account_id}:{bucket}:counters"]

    def try_acquire(self, account_id: int, bucket: str, limit: Limit, waited: float) -> float:
        second_window, minute_window = _windows()
        answer = _script(self._client(), _ACQUIRE_SCRIPT)(
            keys=self._keys(account_id, bucket),
            args=[
                limit.per_second,
                limit.per_minute,
                second_window,
                minute_window,
                uuid.uuid4().hex,
                f"{waited:.6f}",
            ],
        )
        return float(answer)

    def record_throttled(self, account_id: int, bucket: str, limit: Limit) -> None:
        _, minute_window = _windows()
        _script(self._client(), _THROTTLED_SCRIPT)(
            keys=self._keys(account_id, bucket), args=[limit.per_second, minute_window, uuid.uuid4().hex]
        )

    def stats(self, account_id: int, bucket: str, limit: Limit) -> dict[str, Any]:
        client = self._client()
        sends_key, counters_key = self._keys(account_id, bucket)
        seconds, micros = client.time()
        now = seconds + micros / 1_000_000
        pipe = client.pipeline()
        pipe.hgetall(counters_key)
        pipe.zcount(sends_key, f"({now - 1.0}", "+inf")
        pipe.zcount(sends_key, f"({now - 60.0}", "+inf")
        counters, used_second, used_minute = pipe.execute()
        counters = {key.decode(): value.decode() for key, value in counters.items()}
        since = counters.get("counters_since")
        return {
            "requests": int(counters.get("requests", 0)),
            "waits": int(counters.get("waits", 0)),
            "wait_seconds": round(float(counters.get("wait_seconds", 0)), 3),
            "throttled": int(counters.get("throttled", 0)),
            "used_last_second": used_second,
            "used_last_minute": used_minute,
            "counters_since": datetime.fromtimestamp(float(since), UTC).isoformat() if since else None,
        }

    def reset(self, account_id: int | None) -> None:
        client = self._client()
        pattern = f"{_KEY_PREFIX}:{account_id if account_id is not None else '*'}:*"
        keys = list(client.scan_iter(match=pattern, count=500))
        if keys:
            client.delete(*keys)


_database_backend = _DatabaseBackend()
_redis_backend = _RedisBackend()
