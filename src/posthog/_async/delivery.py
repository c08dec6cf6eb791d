"""The delivery task: the asyncio counterpart of ``posthog._delivery.worker.Worker``.

Events go into the very same lanes as in the sync client (the core client enqueues them
without blocking); batching decisions are the worker's own (``_ready_lane``, ``_take``,
``_account``); only the waiting is done here, as one task on the loop that first
captured (or that the client was created in). Captures from other threads (``to_thread``,
a sync endpoint's thread pool, another thread's loop) wake that task through
``call_soon_threadsafe``, or start it there if it is not running yet. When that loop shuts down (``asyncio.run()`` cancels its tasks) the task
delivers what is queued within ``shutdown_timeout`` before it ends; anything still queued
after that is left in the lanes, where the core client's exit hook finds it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from posthog._async.sender import AsyncSender
from posthog._delivery.worker import Lane, Worker

__all__ = ["AsyncDelivery"]

log = logging.getLogger("posthog")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class AsyncDelivery:
    def __init__(self, worker: Worker, sender: AsyncSender, shutdown_timeout: float) -> None:
        self.worker = worker
        self.sender = sender
        self.shutdown_timeout = shutdown_timeout
        # The loop the task runs (or is to run) on: a client created inside a running loop
        # knows it before anything is captured there, so other threads can start the task.
        self._loop: asyncio.AbstractEventLoop | None = _running_loop()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._start_pending = False  # a start was handed to the loop from another thread

    # -- caller side (any thread) ----------------------------------------------------------
    def nudge(self, queued: int) -> None:
        """After an enqueue: start the task if needed, or wake it up when a lane became
        non-empty or holds a full batch. From a thread other than the task's loop (with or
        without a loop of its own) this goes through ``call_soon_threadsafe``; the task
        stays on its loop while that loop runs."""
        running = _running_loop()
        loop = self._loop
        if not self._serving():
            if loop is None or loop.is_closed() or running is loop:
                if running is not None:
                    self._start(running)
            elif running is None or loop.is_running():  # it is the loop of the application
                if not self._start_pending:
                    self._start_pending = True
                    self._call_in(loop, self._start_from_another_thread)
            else:  # that loop has stopped; this thread's takes over
                self._start(running)
            return
        wake = self._wake
        if loop is None or wake is None or not (queued == 1 or queued >= self.worker.flush_at):
            return
        if running is loop:
            wake.set()
        else:
            self._call_in(loop, wake.set)

    def _serving(self) -> bool:
        """Whether the task is alive on a loop that can run it (running, or the caller's)."""
        task, loop = self._task, self._loop
        if task is None or task.done() or loop is None or loop.is_closed():
            return False
        return loop.is_running() or _running_loop() is None

    def _start_from_another_thread(self) -> None:
        self._start_pending = False
        if not self._serving():
            self._start(asyncio.get_running_loop())

    @staticmethod
    def _call_in(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # that loop is closed; a later flush or the exit hook delivers
            pass

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self.sender.stop = asyncio.Event()
        self._task = loop.create_task(self._run(), name="posthog-async-delivery")

    def ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._task is None or self._task.done():
            self._start(loop)

    def forget(self) -> None:
        """After fork: the parent's loop and task are not ours."""
        self._loop = self._task = self._wake = self._idle = None
        self._start_pending = False

    # -- awaitable API -----------------------------------------------------------------------
    async def flush(self, timeout: float | None) -> bool:
        worker = self.worker
        if not worker.pending():
            return True
        self.ensure_started()
        assert self._wake is not None and self._idle is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        worker._flush_requested += 1
        try:
            while worker.pending():
                self._idle.clear()
                self._wake.set()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                try:
                    await asyncio.wait_for(self._idle.wait(), remaining)
                except asyncio.TimeoutError:
                    return not worker.pending()
            return True
        finally:
            worker._flush_requested -= 1

    async def stop(self) -> None:
        """Stop the task (after a flush); cut any retry wait short."""
        self.sender.stop.set()
        task, self._task = self._task, None
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    # -- the task ----------------------------------------------------------------------------
    async def _run(self) -> None:
        worker = self.worker
        wake, idle, me = self._wake, self._idle, asyncio.current_task()
        assert wake is not None and idle is not None
        try:
            while self._task is me:  # a task another loop took over from just ends
                wake.clear()
                lane = worker._ready_lane()
                if lane is not None:
                    await self._send(lane, None)
                    continue
                if not worker.pending():
                    idle.set()
                try:
                    await asyncio.wait_for(wake.wait(), worker._wait_time())
                except asyncio.TimeoutError:
                    pass
        except asyncio.CancelledError:
            if not self.sender.stop.is_set():  # the loop is shutting down (asyncio.run ends)
                await self._drain()  # deliver, within a bound
                await self._close_connections()  # they belong to this loop
            raise
        except Exception:  # pragma: no cover - a bug here must not go unnoticed
            log.exception("[PostHog] async delivery task crashed")

    async def _close_connections(self) -> None:
        try:
            await self.sender.async_transport.aclose()
        except Exception as exc:
            log.debug("[PostHog] closing connections at loop shutdown failed: %r", exc)

    async def _drain(self) -> None:
        worker = self.worker
        deadline = time.monotonic() + self.shutdown_timeout
        worker._flush_requested += 1
        try:
            while worker.pending() and time.monotonic() < deadline:
                lane = worker._ready_lane()
                if lane is None:
                    break
                await self._send(lane, deadline)
        except Exception as exc:
            log.warning("[PostHog] delivery at loop shutdown failed: %r", exc)
        finally:
            worker._flush_requested -= 1

    async def _send(self, lane: Lane, deadline: float | None) -> None:
        worker = self.worker
        batch = worker._take(lane)
        worker._inflight += len(batch)
        try:
            outcome = await self.sender.deliver_async(batch, ai=lane.ai, deadline=deadline)
        except asyncio.CancelledError:
            lane.items.extendleft(reversed(batch))  # expanded items stay valid queue items
            raise
        finally:
            worker._inflight -= len(batch)
        worker._account(outcome)
