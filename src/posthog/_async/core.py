"""The sync client minus its delivery thread, as the core of ``AsyncPosthog``.

Everything before the network - arguments, message building, ``before_send``, size
limits, queueing, ``$feature_flag_called`` dedupe - is the sync client's own code; this
subclass only tells the async delivery task when something was queued, hands what is
left at interpreter exit (when no loop runs any more) to the sync sender, and keeps
``capture(send_feature_flags=...)`` off the network (loaded definitions only).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from posthog._async.delivery import AsyncDelivery
from posthog._client_flag_events import event_flag_request
from posthog._delivery.stats import DropReason
from posthog._delivery.worker import Lane
from posthog._flags.events import event_flag_properties
from posthog.client import Client
from posthog.contexts import ContextScope

if TYPE_CHECKING:
    from posthog._async.flags import AsyncFlags

__all__ = ["AsyncCore", "bind_options"]


class AsyncCore(Client):
    """Enqueues like the sync client, then nudges the async delivery task."""

    _delivery: AsyncDelivery | None = None
    _local_flags: AsyncFlags | None = None

    def _flags_for_event(
        self, call: Any, scope: ContextScope | None, option: Any
    ) -> dict[str, Any] | None:
        """``send_feature_flags`` in every call style (``capture`` keyword or legacy
        positional, ``capture_exception``): local definitions only, never the network.

        ``capture`` must not block the event loop, so unlike the sync client this never
        asks ``/flags``: the event gets the flags the already-loaded definitions decide
        (as a ``flags=`` snapshot would), and with ``send_feature_flags=True`` but no
        definitions loaded it goes out without flag properties. For remote values,
        ``snapshot = await client.evaluate_flags(distinct_id)`` and then
        ``capture(..., flags=snapshot)``.
        """
        request = event_flag_request(call, scope, option)
        flags = self._local_flags
        if request is None or flags is None:
            return None
        ident, opts = request
        records = flags.local_only(self._event_query(call, ident, opts, True))
        return event_flag_properties({k: r.value for k, r in records.items()})

    def _enqueue(self, lane: Lane, item: bytes, ident: str) -> str | None:
        result = super()._enqueue(lane, item, ident)
        delivery = self._delivery
        if result is not None and delivery is not None:
            delivery.nudge(len(lane.items))
        return result

    def close_queue(self) -> None:
        """From now on events are refused (counted as ``shutdown`` drops)."""
        self._closed = True

    def discard_queued(self, why: str) -> None:
        """Count what is still queued as dropped at shutdown, and forget it."""
        leftover = 0
        for lane in self._lanes:
            leftover += len(lane.items)
            lane.items.clear()
        if leftover:
            self._reporter.drop(DropReason.SHUTDOWN, leftover, why)

    def release(self) -> None:
        """The rest of ``shutdown()``: flag state, exception hooks."""
        self._shutdown_flags()
        self._uninstall_exception_hooks()

    def _at_exit(self, budget: float) -> None:
        # No loop runs any more: what is still queued goes out through the sync sender.
        if not self._closed and self._worker.pending():
            self._closed = True
            self._worker.close(budget)

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        if self._delivery is not None:
            self._delivery.forget()


def bind_options(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The constructor arguments by name, exactly as ``Posthog(...)`` would take them."""
    bound = inspect.signature(Client.__init__).bind(None, *args, **kwargs)
    options = dict(bound.arguments)
    options.pop("self")
    options.update(options.pop("future_options", {}))
    return options
