"""Delivery figures and drop reporting: nothing is lost without being counted and said.

Every event the client admits ends up ``sent`` or in ``dropped`` under a reason. Each drop
goes to the optional ``on_drop(reason, count, detail)`` callback, and to the log at most
once per reason per minute (with the count since the last line), never once per event.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from posthog._delivery.snapshot import DeliveryStats

__all__ = ["DropReason", "Reporter"]

log = logging.getLogger("posthog")


class DropReason:
    """Why events were not delivered. ``delivery_failed``: the server or network refused
    the batch until retries ran out. ``shutdown``: the client closed (``shutdown()`` or
    the exit budget) before delivery - including a batch still on the wire when the
    budget ran out, which the server may yet accept; it is counted here, never twice."""

    QUEUE_FULL = "queue_full"
    TOO_LARGE = "too_large"
    INVALID = "invalid"
    BEFORE_SEND = "before_send"
    DELIVERY_FAILED = "delivery_failed"
    SHUTDOWN = "shutdown"


class Reporter:
    """Thread-safe counters plus rate-limited drop logging."""

    LOG_EVERY = 60.0

    def __init__(self, on_drop: Callable[[str, int, str], Any] | None = None) -> None:
        self.on_drop = on_drop
        self._lock = threading.Lock()
        self._queued = itertools.count()
        self.sent = 0
        self.retried = 0
        self.failed_batches = 0
        self._dropped: dict[str, int] = {}
        self._unlogged: dict[str, int] = {}
        self._last_log: dict[str, float] = {}

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()

    def count_queued(self) -> None:
        # itertools.count is atomic under the GIL and far cheaper than a lock: hot path.
        next(self._queued)

    @property
    def queued(self) -> int:
        return int(repr(self._queued)[6:-1])

    def count_sent(self, n: int) -> None:
        with self._lock:
            self.sent += n

    def count_retry(self) -> None:
        with self._lock:
            self.retried += 1

    def count_failed_batch(self) -> None:
        with self._lock:
            self.failed_batches += 1

    def _due(self, key: str, count: int) -> tuple[bool, int]:
        """(log now?, count since the last line for ``key``); call with the lock held."""
        now = time.monotonic()
        pending = self._unlogged.get(key, 0) + count
        due = now - self._last_log.get(key, -self.LOG_EVERY) >= self.LOG_EVERY
        if due:
            self._last_log[key] = now
            self._unlogged[key] = 0
        else:
            self._unlogged[key] = pending
        return due, pending

    def limit(self, key: str, count: int = 1) -> tuple[bool, int]:
        """The same limit for another module's log lines (flag errors): whether to log
        ``key`` now, and how many occurred since its last line (this one included)."""
        with self._lock:
            return self._due(key, count)

    def warn(self, kind: str, detail: str) -> None:
        """A problem an event was admitted with (bad timestamp, unserialisable value...):
        one line per kind per minute, naming how many events had it since the last."""
        with self._lock:
            due, pending = self._due("warn:" + kind, 1)
        if due:
            log.warning(
                "[PostHog] %s%s",
                detail,
                ""
                if pending == 1
                else f" ({pending} events with {kind} problems since the last report)",
            )

    def drop(self, reason: str, count: int, detail: str) -> None:
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + count
            due, pending = self._due(reason, count)
        if due:
            log.warning(
                "[PostHog] dropped %d event(s) (%s): %s%s",
                pending,
                reason,
                detail,
                "" if pending == count else " (count since the last report)",
            )
        callback = self.on_drop
        if callback is not None:
            try:
                callback(reason, count, detail)
            except Exception:
                log.exception("[PostHog] on_drop callback raised")

    def snapshot(self, pending: int) -> DeliveryStats:
        from posthog._delivery.snapshot import DeliveryStats

        with self._lock:
            return DeliveryStats(
                queued=self.queued,
                sent=self.sent,
                retried=self.retried,
                failed_batches=self.failed_batches,
                dropped=dict(self._dropped),
                pending=pending,
            )
