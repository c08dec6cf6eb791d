"""The retry policy, as a pure function of what happened (spec 4.1, improved).

Retryable: network errors and timeouts, 408, 429 and 5xx. Backoff doubles from
``base`` with full jitter in its upper half (so many clients do not retry in lockstep);
a server's ``Retry-After`` is a floor. Everything is capped at ``cap`` seconds.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["V0_RETRYABLE", "V1_RETRYABLE", "backoff_delay", "is_retryable_status"]

V1_RETRYABLE = frozenset({404, 408, 429, 500, 502, 503, 504})


def is_retryable_status(status: int) -> bool:
    """v0: 408, 429 and every 5xx are worth retrying; other 4xx never are."""
    return status in (408, 429) or status >= 500


def V0_RETRYABLE(status: int) -> bool:
    return is_retryable_status(status)


def backoff_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    base: float = 1.0,
    cap: float = 30.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
    exp = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = exp * (0.5 + rand() / 2)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, cap))
    return float(min(delay, cap))
