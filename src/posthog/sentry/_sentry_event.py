"""Reading a Sentry event (a plain ``dict``) into the PostHog ``$exception``'s properties.

Pure functions, no I/O: what Sentry's ``PostHogIntegration`` takes from the event as
Sentry sends it.

* :func:`sentry_properties` — ``$sentry_event_id``, ``$sentry_url``,
  ``$sentry_exception`` (Sentry's exception interface without the frames' local variables:
  PostHog never gets Sentry's ``vars``), ``$sentry_exception_message``,
  ``$sentry_exception_type``, ``$sentry_tags`` and ``$exception_level``;
* :func:`exception_list` — ``$exception_list`` when there is no exception object: from
  Sentry's exception interface (the raised exception first), or, for an event with only a
  message, one entry whose type is the logger's name (else ``"Error"``), whose value is
  the formatted message and whose mechanism is
  ``{"type": "generic", "handled": true, "synthetic": true}``, with the stack Sentry
  attached, if any;
* :func:`exception_of` and :func:`message_of` — the exception object in Sentry's hint and
  the event's message text, which decide whether an event is an error to link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ERROR_LEVELS", "exception_list", "exception_of", "message_of", "sentry_properties"]

#: The Sentry levels that make a PostHog ``$exception``.
ERROR_LEVELS = frozenset({"error", "fatal"})
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


def exception_of(hint: Mapping[str, Any] | None) -> BaseException | None:
    exc_info = (hint or {}).get("exc_info")
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        value = exc_info[1]
        return value if isinstance(value, BaseException) else None
    return None


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


def message_of(event: Mapping[str, Any]) -> str | None:
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


def exception_list(event: Mapping[str, Any]) -> list[dict[str, Any]]:
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
    message = None if entries else message_of(event)
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


def sentry_properties(event: Mapping[str, Any], url: str | None) -> dict[str, Any]:
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
