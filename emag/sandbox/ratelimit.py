"""eMAG's per-account rate limits, as sliding windows of one second, one minute and (for EAN lookups) one day."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable

# (per second, per minute[, per day]) per bucket, per account.
LIMITS: dict[str, tuple[int, ...]] = {"orders": (12, 720), "other": (3, 180), "documentation": (5, 200, 5000)}
WINDOWS = (1.0, 60.0, 86_400.0)


def bucket_for(route: str) -> str:
    if route.startswith("order/"):
        return "orders"
    if route.startswith("documentation/"):
        return "documentation"
    return "other"


class RateLimiter:
    """Counts requests per (account, bucket) over sliding windows.

    Throttled requests are not counted by default: eMAG says invalid requests count, which we honour
    by counting every authenticated request that gets past the limiter whatever its outcome, but a
    429 itself consumes nothing (as an nginx/gateway limiter behaves), so a client that backs off
    recovers after the window slides. `count_throttled=True` makes 429s count too.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        limits: dict[str, tuple[int, ...]] | None = None,
        count_throttled: bool = False,
    ) -> None:
        self.clock = clock
        self.limits = {**LIMITS, **(limits or {})}
        self.count_throttled = count_throttled
        self.windows: dict[tuple[str, str], list[float]] = {}  # arrival times, sorted

    def check(self, account: str, bucket: str, at: float | None = None) -> float | None:
        """Record a request that arrived at `at` (the clock's now by default); None if allowed, else the
        seconds until one would be allowed.

        The sandbox checks requests in the order they get its lock, which can differ from the order
        they arrived in: a request may be older than one already recorded. The times are kept sorted,
        and a request is allowed when no window that holds its arrival (one second, one minute, a day)
        would hold more than the limit with it.
        """
        now = self.clock() if at is None else at
        limits = self.limits[bucket]
        longest = WINDOWS[len(limits) - 1]
        stamps = self.windows.setdefault((account, bucket), [])
        del stamps[: bisect_right(stamps, now - longest)]
        wait = 0.0
        throttled = False
        for limit, span in zip(limits, WINDOWS, strict=False):
            if _busiest(stamps, now, span) >= limit:
                throttled = True
                # The request that must leave the window before another one fits.
                oldest = bisect_right(stamps, now) - limit
                if oldest >= 0:
                    wait = max(wait, stamps[oldest] + span - now)
        if throttled:
            if self.count_throttled:
                insort(stamps, now)
            return max(wait, 0.001)
        insort(stamps, now)
        return None

    def reset(self) -> None:
        self.windows.clear()


def _busiest(stamps: list[float], now: float, span: float) -> int:
    """The most of `stamps` (sorted) in any window [t, t + span) that holds `now`."""
    first = bisect_right(stamps, now - span)  # the first one after now - span
    through_now = bisect_right(stamps, now)
    end = bisect_left(stamps, now + span)
    # The window that opens just after now - span holds every recorded time in (now - span, now].
    best = through_now - first
    if end > through_now:
        # Times after `now` (recorded first, arrived later): a window that opens later may hold more.
        best = max(best, end - bisect_left(stamps, now))
        last = first
        for opening in range(first, through_now):
            while last < end and stamps[last] < stamps[opening] + span:
                last += 1
            best = max(best, last - opening)
    return best


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
