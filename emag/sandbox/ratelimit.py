"""eMAG's per-account rate limits, as sliding windows of one second, one minute and (for EAN lookups) one day."""

from __future__ import annotations

import math
from collections import deque
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
        self.windows: dict[tuple[str, str], deque[float]] = {}

    def check(self, account: str, bucket: str) -> float | None:
        """Record a request; None if allowed, else the seconds until one would be allowed."""
        now = self.clock()
        limits = self.limits[bucket]
        longest = WINDOWS[len(limits) - 1]
        window = self.windows.setdefault((account, bucket), deque())
        while window and window[0] <= now - longest:
            window.popleft()
        wait = 0.0
        throttled = False
        for limit, span in zip(limits, WINDOWS, strict=False):
            in_window = 0
            for stamp in reversed(window):
                if stamp <= now - span or in_window >= limit:
                    break
                in_window += 1
            if in_window >= limit:
                throttled = True
                # The request that must leave the window before another one fits.
                wait = max(wait, window[len(window) - limit] + span - now)
        if throttled:
            if self.count_throttled:
                window.append(now)
            return max(wait, 0.001)
        window.append(now)
        return None

    def reset(self) -> None:
        self.windows.clear()


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
