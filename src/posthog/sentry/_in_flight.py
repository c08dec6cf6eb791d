"""Whether Sentry sent an event: the events in flight and the hook on Sentry's transport.

The integration's event processor notes each Sentry event on a per-thread stack
(:func:`note_in_flight`, innermost last), and the client's transport is hooked once, on
its first event (:func:`hook_transport`): an envelope handed to ``capture_envelope`` is
sent, so the noted event's integration links it (:meth:`InFlight.sent`); a lost error
recorded by the client (``record_lost_event``: ``before_send``, ``sample_rate``, a later
event processor) while the event is in flight is dropped (:meth:`InFlight.dropped`). Both
happen synchronously within Sentry's ``capture_event``. Without a transport (no DSN)
Sentry sends nothing. Nothing here ever raises into Sentry's pipeline, except what
Sentry's own transport raises.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from posthog.integrations._common import take_pending_capture

if TYPE_CHECKING:
    from posthog.sentry.posthog_integration import PostHogIntegration

__all__ = ["InFlight", "hook_transport", "note_in_flight"]

log = logging.getLogger("posthog")

#: Events in flight per thread beyond which the oldest are forgotten (never resolved).
_MAX_IN_FLIGHT = 32


@dataclass(slots=True)
class InFlight:
    """A Sentry event between our event processor and Sentry's decision on it.

    ``integration`` is ``None`` for events that are none of our business: they are
    noted too, so that a lost event is always matched to the innermost event in flight.
    """

    event_id: str
    integration: PostHogIntegration | None = None
    exc: BaseException | None = None
    distinct_id: Any = None
    client: Any = None

    def sent(self, event: dict[str, Any]) -> None:
        if self.integration is not None:
            self.integration.sent(self, event)

    def dropped(self) -> None:
        """Sentry will not send it: a request error handed over is captured unlinked."""
        exc = self.exc
        note = take_pending_capture(exc)
        if note is not None and exc is not None:
            note.capture(exc, {})


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.events: list[InFlight] = []  # innermost last
        self.floor = 0  # while forwarding an envelope: events below are not lost here


_state = _ThreadState()
_hook_lock = threading.Lock()
_HOOKED = "_posthog_integration_hooked"


def note_in_flight(noted: InFlight) -> None:
    """``noted`` is in flight on this thread, innermost (the oldest beyond a bound are
    forgotten)."""
    stack = _state.events
    stack.append(noted)
    del stack[:-_MAX_IN_FLIGHT]


def hook_transport(client: Any) -> bool:
    """Hooks the client's transport (once): whether there is one."""
    transport = getattr(client, "transport", None)
    if transport is None:
        return False
    if vars(transport).get(_HOOKED):  # hooked already: the usual case, with no lock taken
        return True
    with _hook_lock:
        if vars(transport).get(_HOOKED):  # another thread hooked it meanwhile
            return True
        send: Callable[[Any], None] = transport.capture_envelope
        lose: Callable[..., None] = transport.record_lost_event

        def capture_envelope(envelope: Any) -> None:
            _forward(send, envelope)

        def record_lost_event(*args: Any, **kwargs: Any) -> None:
            lose(*args, **kwargs)
            _lost(args, kwargs)

        setattr(transport, "capture_envelope", capture_envelope)  # noqa: B010
        setattr(transport, "record_lost_event", record_lost_event)  # noqa: B010
        setattr(transport, _HOOKED, True)
    return True


def _forward(send: Callable[[Any], None], envelope: Any) -> None:
    noted = None
    event = None
    try:
        event = envelope.get_event()
        if isinstance(event, dict):
            noted = _take(str(event.get("event_id")))
    except Exception as exc:
        log.warning("[PostHog] Sentry integration failed: %r", exc)
    floor = _state.floor
    _state.floor = len(_state.events)
    try:
        send(envelope)
    except BaseException:
        if noted is not None:
            _safely(noted.dropped)
        raise
    finally:
        _state.floor = floor
    if noted is not None and event is not None:
        _safely(lambda: noted.sent(event))


def _lost(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The client lost an event it was capturing: the innermost one in flight."""
    try:
        category = kwargs.get("data_category", args[1] if len(args) > 1 else None)
        item = kwargs.get("item", args[2] if len(args) > 2 else None)
        if item is not None:
            category = getattr(item, "data_category", category)
        stack = _state.events
        if category != "error" or len(stack) <= _state.floor:
            return
        noted = stack.pop()
    except Exception as exc:
        log.warning("[PostHog] Sentry integration failed: %r", exc)
        return
    _safely(noted.dropped)


def _take(event_id: str) -> InFlight | None:
    stack = _state.events
    for index in range(len(stack) - 1, -1, -1):
        if stack[index].event_id == event_id:
            return stack.pop(index)
    return None


def _safely(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception as exc:
        log.warning("[PostHog] Sentry integration failed: %r", exc)
