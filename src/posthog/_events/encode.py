"""Encoding drafts into queue items, and queue items back into complete events.

A queue item is compact bytes. Its first byte tells how to read it:

* ``{`` — a complete JSON event (made after ``before_send``, which may change anything);
* a selector byte (``posthog._events.enrich.FULL`` etc.) — the event's JSON without its opening ``{`` and without
  the closing ``}}`` of its trailing ``properties`` object; :func:`expand` adds the
  client's pre-encoded constant properties there. This keeps a queued event small and the
  caller's thread free of encoding work it does not need to do.
"""

from __future__ import annotations

from typing import Any

from posthog._events.enrich import EventDefaults
from posthog._events.ids import new_uuid, normalize_uuid
from posthog._events.message import Draft
from posthog._events.serialize import CleanReport, FastEncodeError, clean, dumps, safe_dumps

__all__ = ["encode", "encode_complete", "expand", "full_message", "item_size"]

_OPEN = ord("{")


def encode(draft: Draft, report: CleanReport | None = None) -> bytes:
    """The compact queue item for a draft (no ``before_send``).

    What had to be dropped to make it JSON is added to ``report``, when one is given,
    and otherwise to ``draft.problems``.
    """
    try:
        body = dumps(draft.message)
    except FastEncodeError:
        local = report if report is not None else CleanReport()
        body = safe_dumps(draft.message, local)
        if report is None:
            draft.problems.extend(local.dropped)
    return _SELECTORS[draft.selector] + body[1:-2]


_SELECTORS = tuple(bytes((i,)) for i in range(8))


def item_size(item: bytes, defaults: EventDefaults) -> int:
    """Encoded size of the complete event an item expands to."""
    if item[0] == _OPEN:
        return len(item)
    return len(item) + len(defaults.suffixes[item[0]]) + 3


def expand(item: bytes, defaults: EventDefaults) -> bytes:
    """The complete JSON of a queue item."""
    if item[0] == _OPEN:
        return item
    sep = b"" if item[-1] == _OPEN else b","
    return b"{" + item[1:] + sep + defaults.suffixes[item[0]] + b"}}"


def full_message(draft: Draft, defaults: EventDefaults) -> dict[str, Any]:
    """The event as a plain dict with every property, as ``before_send`` sees it."""
    msg = dict(draft.message)
    msg["timestamp"] = msg["timestamp"].isoformat()
    msg["properties"] = {**draft.message["properties"], **defaults.props_for(draft.selector)}
    # properties last, as on the wire
    msg["properties"] = msg.pop("properties")
    return msg


def encode_complete(message: dict[str, Any], report: CleanReport) -> bytes:
    """Encode a (possibly user-modified) complete message, repairing what must hold."""
    cleaned = clean(message, report, path="message")
    if normalize_uuid(cleaned.get("uuid")) is None:
        cleaned["uuid"] = new_uuid()
    return dumps(cleaned)
