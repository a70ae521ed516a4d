"""eMAG's per-account rate limits, as sliding one-second and one-minute windows."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

# (requests per second, requests per minute) per bucket, per account.
LIMITS = {"orders": (12, 720), "other": (3, 180)}


def bucket_for(route: str) -> str:
    return "orders" if route.startswith("order/") else "other"


class RateLimiter:
    """Counts accepted requests per (account, bucket) over the last second and the last minute.

    Throttled requests are not counted by default: eMAG says invalid requests count, which we honour
    by counting every authenticated request that gets past the limiter whatever its outcome, but a
    429 itself consumes nothing (as an nginx/gateway limiter behaves), so a client that backs off
    recovers after the window slides. `count_throttled=True` makes 429s count too.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        limits: dict[str, tuple[int, int]] | None = None,
        count_throttled: bool = False,
    ):
        self.clock = clock
        self.limits = dict(limits or LIMITS)
        self.count_throttled = count_throttled
        self.windows: dict[tuple[str, str], deque[float]] = {}

    def check(self, account: str, bucket: str) -> float | None:
        """Record a request; None if allowed, else the seconds until one would be allowed."""
        now = self.clock()
        window = self.windows.setdefault((account, bucket), deque())
        while window and window[0] <= now - 60.0:
            window.popleft()
        per_second, per_minute = self.limits[bucket]
        in_last_second = 0
        for stamp in reversed(window):
            if stamp <= now - 1.0:
                break
            in_last_second += 1
        wait = 0.0
        if in_last_second >= per_second:
            wait = max(wait, window[len(window) - per_second] + 1.0 - now)
        if len(window) >= per_minute:
            wait = max(wait, window[len(window) - per_minute] + 60.0 - now)
        if wait > 0 or in_last_second >= per_second or len(window) >= per_minute:
            if self.count_throttled:
                window.append(now)
            return max(wait, 0.001)
        window.append(now)
        return None

    def reset(self) -> None:
        self.windows.clear()


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
