"""``PostHogIntegration``: every Sentry error for a known person is also a PostHog
``$exception`` event, and each points at the other.

Usage (documented)::

    import sentry_sdk
    from posthog.sentry.posthog_integration import PostHogIntegration

    PostHogIntegration.organization = "orgname"
    sentry_sdk.init(dsn=..., integrations=[PostHogIntegration()])
    sentry_sdk.set_tag("posthog_distinct_id", "some distinct id")

For a Sentry event of level ``error`` or ``fatal`` whose ``posthog_distinct_id`` tag is
set (or, failing that, inside a PostHog context with a distinct id), the integration

* adds the Sentry tag ``PostHog URL``: the person's page in PostHog (set before the
  application's ``before_send``, which sees it);
* once Sentry sends the event (after ``before_send`` and error sampling: an event Sentry
  drops makes no PostHog event), captures ``$exception`` for that person through the
  PostHog client (the integration's ``client``, else the module-level default client),
  with ``$sentry_event_id``, ``$sentry_url`` (the Sentry event's page),
  ``$sentry_exception``, ``$sentry_exception_message``, ``$sentry_exception_type`` and
  ``$sentry_tags`` read from the event as Sentry sends it.

``$exception_list`` is our own: built from the exception object as ``capture_exception``
builds it when Sentry saw one (so ``code_variables`` only if
``capture_exception_code_variables`` is on, masked by our masking); else from Sentry's
exception interface; for an event with only a message (``logging.error`` through
Sentry's logging integration, ``capture_message(level="error")``) one entry whose type is
the logger's name (else ``"Error"``), whose value is the formatted message and whose
mechanism is ``{"type": "generic", "handled": true, "synthetic": true}``, with the
stack Sentry attached, if any. ``$sentry_exception`` is Sentry's exception interface
without the frames' local variables (``vars``): PostHog never gets Sentry's locals.
Events logged by the SDK itself (logger ``posthog``) are left to Sentry alone.

With our Django/Flask/ASGI integrations also capturing view errors, a request's error is
handed to this integration instead (see ``posthog.integrations._common``): it is
captured here in the request's context, personless if the request has no person, with
``$exception_source``, so the error makes one PostHog event and that one is linked. If
Sentry drops that event, the error is captured without the Sentry links.

How "Sentry sent it" is known: the event processor notes each event on a per-thread
stack, and the client's transport is hooked (once, on its first event): an envelope
handed to ``capture_envelope`` is sent; a lost error recorded by the client
(``record_lost_event``: ``before_send``, ``sample_rate``, a later event processor)
while the event is in flight is dropped. Both happen synchronously within Sentry's
``capture_event``. Without a transport (no DSN) Sentry sends nothing.

The Sentry URL is ``{prefix}{organization}/issues/?project={project_id}&query={event_id}``;
the project id comes from the DSN unless set. For self-hosted Sentry set ``prefix``.
Nothing here ever raises into Sentry's pipeline.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import sentry_sdk
from sentry_sdk.integrations import Integration
from sentry_sdk.scope import add_global_event_processor

from posthog.integrations._common import (
    PENDING_CAPTURE_ATTR,
    SENTRY_INTEGRATION_ID,
    SENTRY_LINK_ATTR,
    PendingCapture,
    take_pending_capture,
)

__all__ = ["PERSON_URL_TAG", "PostHogIntegration", "posthog_person_url"]

log = logging.getLogger("posthog")

DISTINCT_ID_TAG = "posthog_distinct_id"
PERSON_URL_TAG = "PostHog URL"
_ERROR_LEVELS = frozenset({"error", "fatal"})
_OWN_LOGGER = "posthog"
#: What of Sentry's exception interface ``$sentry_exception`` keeps (never ``vars``).
_VALUE_KEYS = ("type", "value", "module", "thread_id")
_MECHANISM_KEYS = (
    "type",
    "handled",
    "synthetic",
    "exception_id",
    "parent_id",
    "source",
    "is_exception_group",
)
#: A frame in ``$sentry_exception``: where it is. The code around it is in our
#: ``$exception_list``; Sentry's ``vars`` never reach PostHog.
_LOCATION_KEYS = ("filename", "abs_path", "function", "module", "lineno", "colno", "in_app")
#: A frame in an ``$exception_list`` built from Sentry's event: also the code around it.
_FRAME_KEYS = (*_LOCATION_KEYS, "pre_context", "context_line", "post_context")
_MESSAGE_MECHANISM = {"type": "generic", "handled": True, "synthetic": True, "exception_id": 0}
#: Events in flight per thread beyond which the oldest are forgotten (never resolved).
_MAX_IN_FLIGHT = 32


def posthog_app_host(host: str) -> str:
    """The app's address for an ingestion host: ``us.i.posthog.com`` -> ``us.posthog.com``."""
    host = host.rstrip("/")
    return host.replace(".i.posthog.com", ".posthog.com")


def posthog_person_url(host: str, distinct_id: str) -> str:
    return f"{posthog_app_host(host)}/person/{quote(str(distinct_id), safe='')}"


@dataclass(slots=True)
class _InFlight:
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


class PostHogIntegration(Integration):
    identifier = SENTRY_INTEGRATION_ID

    organization: str | None = None
    project_id: str | None = None
    prefix: str = "https://sentry.io/organizations/"
    client: Any = None  # a posthog Client; None -> the module-level default client
    posthog_host: str | None = None  # the PostHog app's URL, if not derived from the client

    def __init__(
        self,
        organization: str | None = None,
        project_id: str | None = None,
        prefix: str | None = None,
        client: Any = None,
        posthog_host: str | None = None,
    ) -> None:
        if organization is not None:
            self.organization = organization
        if project_id is not None:
            self.project_id = project_id
        if prefix is not None:
            self.prefix = prefix
        if client is not None:
            self.client = client
        if posthog_host is not None:
            self.posthog_host = posthog_host

    @staticmethod
    def setup_once() -> None:
        add_global_event_processor(_process_event)

    # -- the link --------------------------------------------------------------------------
    def posthog_client(self) -> Any:
        if self.client is not None:
            return self.client
        from posthog import _default

        return _default.get_client()

    def sentry_url(self, event_id: str) -> str | None:
        if not self.organization:
            return None
        project = self.project_id or _dsn_project_id()
        url = f"{self.prefix}{self.organization}/issues/?query={event_id}"
        if project:
            url = f"{self.prefix}{self.organization}/issues/?project={project}&query={event_id}"
        return url

    def prepare(self, event: dict[str, Any], hint: dict[str, Any], noted: _InFlight) -> None:
        """At the event processor: whose error it is; tags the Sentry event with the
        person's URL (so the application's ``before_send`` sees the tag)."""
        tags = event.get("tags")
        if not isinstance(tags, dict):
            tags = {}
            event["tags"] = tags
        exc = _exception_of(hint)
        note = getattr(exc, PENDING_CAPTURE_ATTR, None) if exc is not None else None
        if isinstance(note, PendingCapture):  # a framework integration handed it over
            distinct_id = tags.get(DISTINCT_ID_TAG) or note.context.run(_context_distinct_id)
            client = note.client
        else:
            distinct_id = tags.get(DISTINCT_ID_TAG) or _context_distinct_id()
            client = self.posthog_client() if distinct_id else None
        noted.integration = self
        noted.exc = exc
        noted.distinct_id = distinct_id
        noted.client = client
        host = self.posthog_host or getattr(client, "host", None)
        if distinct_id and host:
            tags[PERSON_URL_TAG] = posthog_person_url(host, distinct_id)

    def sent(self, noted: _InFlight, event: dict[str, Any]) -> None:
        """Sentry sends ``event`` (as ``before_send`` left it): the linked ``$exception``."""
        exc = noted.exc
        note = take_pending_capture(exc)
        if note is not None and exc is not None:  # a framework integration handed it over
            self._sent_request_error(noted, event, exc, note)
            return
        properties = self._link_properties(noted, event)
        if properties is None:
            return
        if exc is not None:  # a framework integration capturing it later links it too
            _remember_link(exc, properties)
        client = noted.client
        if client is None:
            return
        if exc is not None:
            client.capture_exception(exc, distinct_id=noted.distinct_id, properties=properties)
        else:
            client.capture("$exception", distinct_id=noted.distinct_id, properties=properties)

    def _sent_request_error(
        self, noted: _InFlight, event: dict[str, Any], exc: BaseException, note: PendingCapture
    ) -> None:
        """Captured in the request's context: its person, or personless as the request
        would have captured it."""
        try:
            properties = self._link_properties(noted, event)
        except Exception:
            note.capture(exc, {})  # taken from the request: it must not be lost here
            raise
        if properties is None:  # no longer an error to Sentry: captured unlinked
            note.capture(exc, {})
            return
        _remember_link(exc, properties)
        note.capture(exc, properties, distinct_id=noted.distinct_id)  # the tag wins

    def _link_properties(self, noted: _InFlight, event: dict[str, Any]) -> dict[str, Any] | None:
        """The PostHog event's Sentry properties, or ``None`` if ``before_send`` made the
        event something else than an error."""
        if event.get("level") not in _ERROR_LEVELS:
            return None
        properties = _sentry_properties(event, self.sentry_url(noted.event_id))
        if noted.exc is not None:
            return properties
        entries = _exception_list(event)
        if not entries:
            return None
        if "$sentry_exception" not in properties:  # a message: named by its entry
            properties["$sentry_exception_type"] = entries[0]["type"]
            properties["$sentry_exception_message"] = entries[0]["value"]
        properties["$exception_list"] = entries
        return properties


# -- Sentry's pipeline -----------------------------------------------------------------------
class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.events: list[_InFlight] = []  # innermost last
        self.floor = 0  # while forwarding an envelope: events below are not lost here


_state = _ThreadState()
_hook_lock = threading.Lock()
_HOOKED = "_posthog_integration_hooked"


def _process_event(event: Any, hint: dict[str, Any]) -> Any:
    try:
        if event.get("type") == "transaction":
            return event
        client = sentry_sdk.get_client()
        integration = client.get_integration(PostHogIntegration)
        if integration is None:
            return event
        noted = _InFlight(str(event.get("event_id")))
        sendable = _hook_transport(client)
        if sendable:  # noted first: a failure below must not unbalance the stack
            stack = _state.events
            stack.append(noted)
            del stack[:-_MAX_IN_FLIGHT]
        if _ours(event, hint):
            integration.prepare(event, hint, noted)
            if not sendable:  # no transport: Sentry sends nothing
                noted.dropped()
    except Exception as exc:  # never break Sentry's pipeline
        log.warning("[PostHog] Sentry integration failed: %r", exc)
    return event


def _ours(event: Mapping[str, Any], hint: Mapping[str, Any]) -> bool:
    if event.get("level") not in _ERROR_LEVELS:
        return False
    logger = event.get("logger")
    if isinstance(logger, str) and (logger == _OWN_LOGGER or logger.startswith("posthog.")):
        return False  # the SDK's own diagnostics would feed themselves
    return bool(event.get("exception") or _exception_of(hint) or _message_of(event))


def _hook_transport(client: Any) -> bool:
    """Hooks the client's transport (once): whether there is one."""
    transport = getattr(client, "transport", None)
    if transport is None:
        return False
    with _hook_lock:
        if vars(transport).get(_HOOKED):
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


def _take(event_id: str) -> _InFlight | None:
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


# -- reading Sentry's event --------------------------------------------------------------------
def _exception_of(hint: Mapping[str, Any] | None) -> BaseException | None:
    exc_info = (hint or {}).get("exc_info")
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        value = exc_info[1]
        return value if isinstance(value, BaseException) else None
    return None


def _remember_link(exc: BaseException, properties: dict[str, Any]) -> None:
    try:
        setattr(exc, SENTRY_LINK_ATTR, dict(properties))
    except Exception:  # an exception type that refuses attributes: no link to remember
        pass


def _pick(source: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(source, Mapping):
        return {}
    return {key: source[key] for key in keys if key in source}


def _frames(stacktrace: Any, keys: tuple[str, ...] = _FRAME_KEYS) -> list[dict[str, Any]]:
    """Sentry's frames with ``keys`` only (never the locals)."""
    frames = stacktrace.get("frames") if isinstance(stacktrace, Mapping) else None
    if not isinstance(frames, list):
        return []
    return [_pick(frame, keys) for frame in frames if isinstance(frame, Mapping)]


def _exception_values(
    event: Mapping[str, Any], frame_keys: tuple[str, ...] = _LOCATION_KEYS
) -> list[dict[str, Any]]:
    """Sentry's exception interface, oldest first, without locals (``$sentry_exception``)."""
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, Mapping) else None
    if not isinstance(values, list):
        return []
    out = []
    for value in values:
        if not isinstance(value, Mapping):
            continue
        clean = _pick(value, _VALUE_KEYS)
        if "mechanism" in value:
            clean["mechanism"] = _pick(value["mechanism"], _MECHANISM_KEYS)
        if "stacktrace" in value:
            clean["stacktrace"] = {"frames": _frames(value["stacktrace"], frame_keys)}
        out.append(clean)
    return out


def _message_of(event: Mapping[str, Any]) -> str | None:
    for key in ("logentry", "message"):
        entry = event.get(key)
        text = entry.get("formatted") or entry.get("message") if isinstance(entry, dict) else entry
        if isinstance(text, str) and text:
            return text
    return None


def _message_stack(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stack Sentry attached to a message (``attach_stacktrace``, ``stack_info``)."""
    if isinstance(event.get("stacktrace"), Mapping):
        return _frames(event["stacktrace"])
    threads = event.get("threads")
    values = threads.get("values") if isinstance(threads, Mapping) else None
    for thread in values if isinstance(values, list) else []:
        if isinstance(thread, Mapping) and isinstance(thread.get("stacktrace"), Mapping):
            return _frames(thread["stacktrace"])
    return []


def _raw(frames: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "raw", "frames": [{"platform": "python", **frame} for frame in frames]}


def _exception_list(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``$exception_list`` from the event alone (no exception object): from Sentry's
    exception interface, or one synthetic entry for a message."""
    values = _exception_values(event, _FRAME_KEYS)
    entries: list[dict[str, Any]] = []
    for index, value in enumerate(reversed(values)):  # Sentry lists the raised one last
        mechanism = value.get("mechanism") or {}
        entry: dict[str, Any] = {
            "type": str(value.get("type") or "Error"),
            "value": str(value.get("value") or ""),
            "module": value.get("module"),
            "mechanism": {
                "type": "generic" if index == 0 else "chained",
                "handled": mechanism.get("handled") is not False,
                "synthetic": mechanism.get("synthetic") is True,
                "exception_id": index,
                **({"parent_id": index - 1} if index else {}),
            },
        }
        if value.get("stacktrace"):
            entry["stacktrace"] = _raw(value["stacktrace"]["frames"])
        entries.append(entry)
    message = None if entries else _message_of(event)
    if message is not None:
        logger = event.get("logger")
        entry = {
            "type": logger if isinstance(logger, str) and logger else "Error",
            "value": message,
            "module": None,
            "mechanism": dict(_MESSAGE_MECHANISM),
        }
        frames = _message_stack(event)
        if frames:
            entry["stacktrace"] = _raw(frames)
        entries.append(entry)
    return entries


def _sentry_properties(event: Mapping[str, Any], url: str | None) -> dict[str, Any]:
    tags = event.get("tags")
    values = _exception_values(event)
    last = values[-1] if values else {}
    props: dict[str, Any] = {
        "$sentry_event_id": event.get("event_id"),
        "$sentry_exception_message": last.get("value"),
        "$sentry_exception_type": last.get("type"),
        "$sentry_tags": dict(tags) if isinstance(tags, Mapping) else {},
        "$exception_level": event.get("level"),
    }
    if values:
        props["$sentry_exception"] = {"values": values}
    if url is not None:
        props["$sentry_url"] = url
    return props


def _dsn_project_id() -> str | None:
    try:
        from sentry_sdk.utils import Dsn

        dsn = sentry_sdk.get_client().dsn
        return str(Dsn(dsn).project_id) if dsn else None
    except Exception:
        return None


def _context_distinct_id() -> str | None:
    from posthog.contexts import get_context_distinct_id

    return get_context_distinct_id()
