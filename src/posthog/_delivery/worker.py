"""The queue and its one worker thread.

Callers append encoded events to a lane's deque (never blocking, never doing I/O) and
nudge the worker only when a lane becomes non-empty or reaches a full batch. The worker
cuts batches by count, bytes and age, hands them to the sender, and accounts for every
event: sent, or dropped with a reason. After ``os.fork()`` the child starts with empty
lanes (the parent delivers what it queued) and a fresh thread on first use.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from posthog._delivery.stats import DropReason, Reporter
from posthog._events.batch import MAX_BATCH_BYTES
from posthog._events.encode import expand
from posthog._events.serialize import loads
from posthog.exceptions import PostHogError

if TYPE_CHECKING:
    from posthog._delivery.sender import Sender
    from posthog._events.enrich import EventDefaults
    from posthog._events.exchange import Outcome

__all__ = ["Lane", "Worker"]

log = logging.getLogger("posthog")


class Lane:
    """One bounded FIFO of encoded events bound for one endpoint."""

    __slots__ = ("ai", "first_at", "items", "max_event_bytes", "name")

    def __init__(self, name: str, *, ai: bool, max_event_bytes: int) -> None:
        self.name = name
        self.ai = ai
        self.max_event_bytes = max_event_bytes
        self.items: deque[bytes] = deque()
        self.first_at: float | None = None


class Worker:
    def __init__(
        self,
        *,
        lanes: list[Lane],
        sender: Sender,
        reporter: Reporter,
        defaults: Callable[[], EventDefaults],
        flush_at: int,
        flush_interval: float,
        on_error: Callable[[Exception, list[Any]], Any] | None,
    ) -> None:
        self.lanes = lanes
        self.sender = sender
        self.reporter = reporter
        self.defaults = defaults
        self.flush_at = flush_at
        self.flush_interval = flush_interval
        self.on_error = on_error
        self.wake = threading.Event()
        self._reset_sync_state()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def _reset_sync_state(self) -> None:
        self.wake = threading.Event()
        self._idle = threading.Condition()
        self._abort = threading.Event()
        self._closing = False
        self._flush_requested = 0
        self._inflight = 0  # events the asyncio driver has in flight
        # The batch this thread is sending. Whoever takes it out (the thread when the
        # attempt ends, close() when the budget ran out first) accounts for it, once.
        self._current: list[bytes] | None = None
        self._settling = False  # the thread is accounting for _current: not claimable
        self._current_lock = threading.Lock()

    # -- caller side ---------------------------------------------------------------------
    def ensure_started(self) -> None:
        # No pid check here (hot path): the at-fork hook resets _thread in the child.
        if self._thread is not None:
            return
        with self._idle:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._run, name="posthog-delivery", daemon=True)
            self._thread = thread
            self._pid = os.getpid()
            thread.start()

    def after_fork_in_child(self) -> None:
        """Forget the parent's queue, thread and locks: the parent delivers its own events."""
        for lane in self.lanes:
            lane.items = deque()
            lane.first_at = None
        self._reset_sync_state()
        self._thread = None
        self._pid = os.getpid()
        self.reporter.reset_after_fork()

    def pending(self) -> int:
        current = self._current
        queued = sum(len(lane.items) for lane in self.lanes)
        return queued + self._inflight + (len(current) if current is not None else 0)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def flush(self, timeout: float | None) -> bool:
        """Send everything queued now; wait at most ``timeout`` seconds. True if all done."""
        if self._thread is None or not self._thread.is_alive():
            if not any(lane.items for lane in self.lanes):
                return True
            self.ensure_started()
        if threading.current_thread() is self._thread:
            return False  # called from on_error etc. on our own thread: can't wait on ourselves
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            self._flush_requested += 1
            self.wake.set()
            try:
                while self.pending():
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._idle.wait(remaining if remaining is not None else 1.0)
                return True
            finally:
                self._flush_requested -= 1

    def close(self, timeout: float | None) -> bool:
        """Deliver what is queued within ``timeout``, then stop the thread for good."""
        done = self.flush(timeout)
        self._closing = True
        if not done:
            self._abort.set()
        self.wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=0.5 if not done else max(0.5, timeout or 0.5))
        leftover = self._discard_queued()
        if leftover:
            self.reporter.drop(
                DropReason.SHUTDOWN, leftover, "shutdown ran out of time before delivery"
            )
        abandoned = self._claim_current()
        if abandoned:
            self.reporter.drop(
                DropReason.SHUTDOWN,
                len(abandoned),
                "shutdown ran out of time while a batch was in flight (it may still arrive)",
            )
        return done and not leftover and not abandoned

    def _discard_queued(self) -> int:
        # popleft is atomic: two closers (shutdown in a thread, and exit) never count twice.
        count = 0
        for lane in self.lanes:
            items = lane.items
            while True:
                try:
                    items.popleft()
                except IndexError:
                    break
                count += 1
        return count

    def _claim_current(self) -> list[bytes] | None:
        with self._current_lock:
            if self._settling:
                return None
            batch, self._current = self._current, None
        return batch

    # -- worker thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._abort.is_set():
                try:
                    if not self._step():
                        break
                except Exception:  # a bug here must neither kill delivery nor spin
                    log.exception("[PostHog] unexpected error in the delivery thread")
                    self._abort.wait(0.1)
        finally:
            with self._idle:
                self._idle.notify_all()

    def _step(self) -> bool:
        """Send one ready batch or wait for work; False once closing and drained."""
        self.wake.clear()
        lane = self._ready_lane()
        if lane is not None:
            self._send(lane)
            return True
        if self._closing and not any(lane.items for lane in self.lanes):
            return False
        with self._idle:
            self._idle.notify_all()
        self.wake.wait(self._wait_time())
        return True

    def _ready_lane(self) -> Lane | None:
        now = time.monotonic()
        urgent = self._flush_requested > 0 or self._closing
        for lane in self.lanes:
            if not lane.items:
                lane.first_at = None
                continue
            if lane.first_at is None:
                lane.first_at = now
            if urgent or len(lane.items) >= self.flush_at:
                return lane
            if now - lane.first_at >= self.flush_interval:
                return lane
        return None

    def _wait_time(self) -> float | None:
        starts = [lane.first_at for lane in self.lanes if lane.first_at is not None]
        if not starts:
            return None
        return max(0.0, min(starts) + self.flush_interval - time.monotonic())

    def _take(self, lane: Lane) -> list[bytes]:
        defaults = self.defaults()
        batch: list[bytes] = []
        size = 0
        items = lane.items
        while items and len(batch) < self.flush_at and size < MAX_BATCH_BYTES:
            event = expand(items.popleft(), defaults)
            batch.append(event)
            size += len(event) + 1
        lane.first_at = time.monotonic() if items else None
        return batch

    def _send(self, lane: Lane) -> None:
        # Cut the batch and mark it in flight in one step under the lock flush() reads
        # pending() with: between the last popleft and _current being set, the events are
        # in neither place, and a flush() looking then would return before they are sent.
        with self._idle:
            batch = self._take(lane)
            with self._current_lock:
                self._current = batch
        try:
            try:
                outcome = self.sender.deliver(batch, ai=lane.ai, wait=self._abort.wait)
            except Exception as exc:  # not a network failure: a bug; count it, keep serving
                from posthog._events.exchange import Outcome

                log.exception("[PostHog] unexpected error while sending a batch")
                outcome = Outcome(0, batch, PostHogError(f"{type(exc).__name__}: {exc}"), 0)
            with self._current_lock:
                owned = self._settling = self._current is batch
            if owned:  # else close() gave up on it and already counted it
                self._account(outcome)
        finally:
            with self._current_lock:
                if self._current is batch:
                    self._current = None
                self._settling = False

    def _account(self, outcome: Outcome) -> None:
        for _ in range(outcome.performed_retries):
            self.reporter.count_retry()
        if outcome.sent:
            self.reporter.count_sent(outcome.sent)
        if outcome.failed:
            self.report_failure(outcome.failed, outcome.error)

    def report_failure(self, failed: list[bytes], error: PostHogError | None) -> None:
        self.reporter.count_failed_batch()
        self.reporter.drop(DropReason.DELIVERY_FAILED, len(failed), f"{error}")
        callback = self.on_error
        if callback is not None:
            try:
                callback(error or PostHogError("delivery failed"), [loads(e) for e in failed])
            except Exception:
                log.exception("[PostHog] on_error callback raised")
