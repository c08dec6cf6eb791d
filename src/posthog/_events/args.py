"""Telling the two documented ``capture`` call styles apart. Pure.

PostHog documents two styles for Python:

* the documented (classic) style, distinct id first:
  ``capture('distinct id', 'movie played', {...})`` or
  ``capture('distinct id', event='movie played', properties={...})``;
* the current style, event first: ``capture('movie played', distinct_id='u1', ...)``.

The rule, in order:

1. ``event=`` given as a keyword -> classic style; the one positional (if any) is the
   distinct id.
2. Two or more positionals and the second is a string -> classic style:
   ``(distinct_id, event, properties, context, timestamp, uuid, groups,
   send_feature_flags, disable_geoip)``, the old positional order.
3. Otherwise the first positional is the event name (current style); a dict in second
   place is taken as properties.

Anything contradictory (a distinct id both positional and keyword, properties twice,
a stray positional) is an :class:`InvalidArgumentError` — counted and logged, raised
with ``debug=True`` — never a silent drop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from posthog.exceptions import InvalidArgumentError

__all__ = ["CaptureCall", "resolve_capture"]

_CLASSIC_ORDER = (
    "distinct_id",
    "event",
    "properties",
    "context",
    "timestamp",
    "uuid",
    "groups",
    "send_feature_flags",
    "disable_geoip",
)
_OPTIONS = frozenset(_CLASSIC_ORDER) | {"flags"}


class CaptureCall:
    """One ``capture`` call's arguments, whichever style they came in."""

    __slots__ = (
        "disable_geoip",
        "distinct_id",
        "event",
        "flags",
        "groups",
        "properties",
        "send_feature_flags",
        "style",
        "timestamp",
        "uuid",
    )

    def __init__(
        self,
        event: Any,
        distinct_id: Any = None,
        properties: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        groups: Any = None,
        disable_geoip: Any = None,
        send_feature_flags: Any = False,
        flags: Any = None,
        style: str = "current",
    ) -> None:
        self.event = event
        self.distinct_id = distinct_id
        self.properties = properties
        self.timestamp = timestamp
        self.uuid = uuid
        self.groups = groups
        self.disable_geoip = disable_geoip
        self.send_feature_flags = send_feature_flags
        self.flags = flags
        self.style = style


def _merge(call: CaptureCall, name: str, value: Any, given: dict[str, Any]) -> None:
    if name in given and given[name] is not None and value is not None:
        raise InvalidArgumentError(f"capture() got {name} both positionally and as a keyword")
    if name != "context":
        setattr(call, name, value)


def resolve_capture(args: Sequence[Any], kwargs: Mapping[str, Any]) -> CaptureCall:
    if (
        len(args) == 1
        and "event" not in kwargs
        and "context" not in kwargs
        and _OPTIONS.issuperset(kwargs)
    ):
        return CaptureCall(args[0], **kwargs)  # the common current-style call
    unknown = set(kwargs) - _OPTIONS
    if unknown:
        raise InvalidArgumentError(f"capture() got unexpected keyword(s): {sorted(unknown)}")
    given = dict(kwargs)
    classic = "event" in given and given["event"] is not None
    if not classic and len(args) >= 2 and isinstance(args[1], str):
        classic = True
    if classic:
        if len(args) > len(_CLASSIC_ORDER):
            raise InvalidArgumentError("capture() got too many positional arguments")
        call = CaptureCall(event=None, style="classic")
        for name, value in given.items():
            if name != "context":
                setattr(call, name, value)
        for name, value in zip(_CLASSIC_ORDER, args, strict=False):
            _merge(call, name, value, given)
        return call
    if not args:
        raise InvalidArgumentError("capture() needs an event name")
    if len(args) > 2:
        raise InvalidArgumentError(
            "capture() takes the event name first; with more positional arguments the "
            "second must be the event name (classic style: capture(distinct_id, event, ...))"
        )
    call = CaptureCall(event=args[0])
    for name, value in given.items():
        if name != "context":
            setattr(call, name, value)
    if len(args) == 2:
        if not isinstance(args[1], Mapping):
            raise InvalidArgumentError(
                f"capture({args[0]!r}, {args[1]!r}): the second positional argument must be "
                "the event name (classic style) or a properties dict"
            )
        _merge(call, "properties", args[1], given)
    return call
