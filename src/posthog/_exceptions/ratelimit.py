"""Token buckets keyed by exception type, for autocaptured exceptions only.

A crash loop must not flood the project: each key holds up to ``size`` tokens, one per
captured exception, and ``refill_rate`` tokens come back every ``refill_interval``
seconds. Pure apart from the injectable clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["TokenBuckets"]


class TokenBuckets:
    def __init__(
        self,
        size: float = 50,
        refill_rate: float = 10,
        refill_interval: float = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = float(min(100.0, max(0.0, size)))
        self.refill_rate = max(0.0, float(refill_rate))
        self.refill_interval = max(1e-9, float(refill_interval))
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def allow(self, key: str) -> bool:
        """Take one token for ``key``; False when its bucket is empty."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.size, now))
            periods = int((now - last) // self.refill_interval)
            if periods > 0:
                tokens = min(self.size, tokens + periods * self.refill_rate)
                last += periods * self.refill_interval
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            self._buckets[key] = (tokens, last)
            return allowed
