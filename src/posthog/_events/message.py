"""Pure builders for every message type (spec 3.1, 3.2).

A builder returns a :class:`Draft`: the event as a dict whose ``properties`` hold only
what varies per event (the per-client constants are added by :func:`encode`), plus which
constant suffix it takes. Builders raise :class:`InvalidArgumentError` for arguments that
cannot make a valid message; they never do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from posthog._events.args import CaptureCall
from posthog._events.enrich import FULL, GEOIP_OFF, LIB, EventDefaults
from posthog._events.ids import new_uuid, normalize_timestamp, normalize_uuid, now_utc
from posthog.contexts import ContextScope
from posthog.exceptions import InvalidArgumentError

__all__ = [
    "Draft",
    "alias_draft",
    "capture_draft",
    "group_identify_draft",
    "identify_draft",
    "set_draft",
]


class Draft:
    """A built message, the constant suffix it takes, and what had to be repaired in it."""

    __slots__ = ("message", "problems", "selector")

    def __init__(self, message: dict[str, Any], selector: int, problems: list[str]) -> None:
        self.message = message
        self.selector = selector
        self.problems = problems


def _props(value: Any, what: str = "properties") -> dict[Any, Any]:
    if type(value) is dict:
        return value.copy()
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    raise InvalidArgumentError(f"{what} must be a dict, not {type(value).__name__}")


def _envelope(
    event: str, distinct_id: str, timestamp: Any, uuid: Any, problems: list[str]
) -> dict[str, Any]:
    ts = now_utc() if timestamp is None else normalize_timestamp(timestamp)
    if ts is None:
        problems.append(f"invalid timestamp {timestamp!r} replaced with now")
        ts = normalize_timestamp(None)
    ident = None if uuid is None else normalize_uuid(uuid)
    if ident is None:
        if uuid is not None:
            problems.append(f"invalid uuid {uuid!r} replaced with a new one")
        ident = new_uuid()
    return {"event": event, "distinct_id": distinct_id, "uuid": ident, "timestamp": ts}


def _identity(distinct_id: Any, scope: ContextScope | None) -> str | None:
    if distinct_id is not None and distinct_id != "":
        return str(distinct_id)
    if scope is not None:
        return scope.resolved_distinct_id()
    return None


def _finish(
    msg: dict[str, Any],
    props: dict[Any, Any],
    defaults: EventDefaults,
    selector: int,
    geoip_disable: bool,
    problems: list[str],
) -> Draft:
    if geoip_disable:
        selector += GEOIP_OFF  # ``$geoip_disable: true`` comes with the constant suffix
    if defaults.release_id is not None:
        props.setdefault("$release_id", defaults.release_id)
    keys = defaults.keys[selector]
    if not keys.isdisjoint(props):  # rare: the caller set a key the constants override
        for key in keys.intersection(props):
            del props[key]
    msg["properties"] = props
    return Draft(msg, selector, problems)


def _event_name(event: Any) -> str:
    if type(event) is str and event and not event.isspace():
        return event
    if not isinstance(event, str) or not event.strip():
        raise InvalidArgumentError(f"event name must be a non-empty string, got {event!r}")
    return event


def capture_draft(
    defaults: EventDefaults,
    call: CaptureCall,
    geoip_disable: bool,
    flag_properties: Mapping[str, Any] | None,
    scope: ContextScope | None,
) -> Draft:
    """A capture event: caller properties over tags and flags, under the constants."""
    name = _event_name(call.event)
    props = _props(call.properties)
    problems: list[str] = []
    if scope is not None:
        tags = scope.resolved_tags()
        if tags:
            props = {**tags, **props}
        props["$context_tags"] = list(tags)
        session = scope.resolved_session_id()
        if session is not None:
            props.setdefault("$session_id", session)
        window = scope.resolved_window_id()
        if window is not None:
            props.setdefault("$window_id", window)
    ident = _identity(call.distinct_id, scope)
    if ident is None:
        ident = new_uuid()
        props.setdefault("$process_person_profile", False)
    if call.groups:
        props["$groups"] = _props(call.groups, "groups")
    if flag_properties:
        props = {**flag_properties, **props}
    msg = _envelope(name, ident, call.timestamp, call.uuid, problems)
    return _finish(msg, props, defaults, FULL, geoip_disable, problems)


def set_draft(
    defaults: EventDefaults,
    *,
    kind: str,
    distinct_id: Any,
    properties: Any,
    timestamp: Any,
    uuid: Any,
    geoip_disable: bool,
    scope: ContextScope | None,
) -> Draft | None:
    """``$set``/``$set_once``/``$identify``: person properties at the top level.

    Returns ``None`` when there is nothing to do (no person, or no properties).
    """
    values = _props(properties)
    ident = _identity(distinct_id, scope)
    if ident is None or (not values and kind != "$identify"):
        return None
    problems: list[str] = []
    msg = _envelope(kind, ident, timestamp, uuid, problems)
    msg["$set_once" if kind == "$set_once" else "$set"] = values
    props: dict[Any, Any] = {}
    if scope is not None and (session := scope.resolved_session_id()) is not None:
        props["$session_id"] = session
    return _finish(msg, props, defaults, LIB, geoip_disable, problems)


def identify_draft(
    defaults: EventDefaults,
    *,
    distinct_id: Any,
    properties: Any,
    timestamp: Any,
    uuid: Any,
    geoip_disable: bool,
    scope: ContextScope | None,
) -> Draft:
    draft = set_draft(
        defaults,
        kind="$identify",
        distinct_id=distinct_id,
        properties=properties,
        timestamp=timestamp,
        uuid=uuid,
        geoip_disable=geoip_disable,
        scope=scope,
    )
    if draft is None:
        raise InvalidArgumentError("identify needs a distinct id")
    return draft


def alias_draft(
    defaults: EventDefaults,
    *,
    previous_id: Any,
    distinct_id: Any,
    timestamp: Any,
    uuid: Any,
    geoip_disable: bool,
    scope: ContextScope | None,
) -> Draft:
    if previous_id is None or str(previous_id) == "":
        raise InvalidArgumentError("alias needs a previous_id")
    ident = _identity(distinct_id, scope)
    if ident is None:
        raise InvalidArgumentError("alias needs a distinct_id")
    problems: list[str] = []
    previous = str(previous_id)
    msg = _envelope("$create_alias", previous, timestamp, uuid, problems)
    props: dict[Any, Any] = {"distinct_id": previous, "alias": ident}
    if scope is not None and (session := scope.resolved_session_id()) is not None:
        props["$session_id"] = session
    return _finish(msg, props, defaults, LIB, geoip_disable, problems)


def group_identify_draft(
    defaults: EventDefaults,
    *,
    group_type: Any,
    group_key: Any,
    properties: Any,
    timestamp: Any,
    uuid: Any,
    geoip_disable: bool,
    distinct_id: Any,
    scope: ContextScope | None,
) -> Draft:
    gtype = "" if group_type is None else str(group_type)
    gkey = "" if group_key is None else str(group_key)
    if not gtype or not gkey:
        raise InvalidArgumentError("group_identify needs a group_type and a group_key")
    ident = _identity(distinct_id, scope) or new_uuid()
    problems: list[str] = []
    msg = _envelope("$groupidentify", ident, timestamp, uuid, problems)
    props: dict[Any, Any] = {
        "$group_type": gtype,
        "$group_key": gkey,
        "$group_set": _props(properties),
    }
    if scope is not None and (session := scope.resolved_session_id()) is not None:
        props["$session_id"] = session
    return _finish(msg, props, defaults, LIB, geoip_disable, problems)
