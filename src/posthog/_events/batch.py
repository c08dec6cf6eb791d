"""Request bodies for the capture endpoints (spec 3.5, 3.6). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from posthog._events.serialize import dumps, loads

__all__ = ["v0_body", "v1_body", "v1_event"]

MAX_EVENT_BYTES = 900 * 1024
MAX_AI_EVENT_BYTES = 8 * 1024 * 1024
MAX_BATCH_BYTES = 5 * 1024 * 1024


def v0_body(
    events: Sequence[bytes], api_key: str, historical_migration: bool, sent_at: str
) -> bytes:
    """``{"batch": [...], "historical_migration", "sent_at", "api_key"}`` from encoded events."""
    tail = dumps(
        {"historical_migration": historical_migration, "sent_at": sent_at, "api_key": api_key}
    )
    return b'{"batch":[' + b",".join(events) + b"]," + tail[1:]


_OPTION_KEYS = {
    "$cookieless_mode": "cookieless_mode",
    "$ignore_sent_at": "disable_skew_correction",
    "$product_tour_id": "product_tour_id",
    "$process_person_profile": "process_person_profile",
}


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
    return None


def v1_event(event: dict[str, Any]) -> dict[str, Any]:
    """Reshape a v0 event for ``/i/v1/analytics/events``."""
    props = dict(event.get("properties") or {})
    for key in ("$set", "$set_once"):
        if key in event:
            props[key] = event[key]
    props.pop("$lib", None)
    props.pop("$lib_version", None)
    options: dict[str, Any] = {}
    for prop, option in _OPTION_KEYS.items():
        if prop in props:
            raw = props.pop(prop)
            value = raw if option == "product_tour_id" else _as_bool(raw)
            if value is not None:
                options[option] = value
    out: dict[str, Any] = {
        "event": event.get("event"),
        "uuid": event.get("uuid"),
        "distinct_id": event.get("distinct_id"),
        "timestamp": event.get("timestamp"),
        "options": options,
        "properties": props,
    }
    for prop, top in (("$session_id", "session_id"), ("$window_id", "window_id")):
        value = props.pop(prop, None)
        if value is not None:
            out[top] = str(value)
    return out


def v1_body(events: Sequence[bytes], created_at: str, historical_migration: bool) -> bytes:
    body: dict[str, Any] = {
        "created_at": created_at,
        "batch": [v1_event(loads(e)) for e in events],
    }
    if historical_migration:
        body["historical_migration"] = True
    return dumps(body)
