"""Pure parsing of capture requests: body decoding, JSON, and event validation.

Nothing here touches the network or the database. A request either parses completely
into a list of :class:`IncomingEvent` or raises :class:`HttpError` naming the first
problem, so a batch with one bad event is rejected whole (never half-stored).
"""

from __future__ import annotations

import base64
import gzip
import json
import json.encoder
import re
import uuid as uuidlib
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from .errors import bad_request

MAX_BODY_BYTES = 20 * 1024 * 1024
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _make_encoder() -> Callable[[Any], str]:
    """Compact-enough JSON text of parsed JSON, as fast as the stdlib allows.

    ``json.dumps`` builds a new C encoder on every call; the server encodes every event
    it stores, so it builds one once (no cycle check needed: parsed JSON has no cycles).
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the C accelerator
        return json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
    iterencode = make(
        None, None, json.encoder.encode_basestring, None, ": ", ", ", False, False, False
    )
    return lambda value: "".join(iterencode(value, 0))


_encode = _make_encoder()
_PERSON_KEYS = ("$set", "$set_once")


class IncomingEvent(NamedTuple):
    """One validated event. ``raw`` is the event as sent (uuid filled in when absent).

    A named tuple rather than a frozen dataclass: the server builds one per event on the
    hot path, and tuple construction is several times cheaper.
    """

    uuid: str
    event: str
    distinct_id: str
    timestamp: str
    properties: dict[str, Any]
    raw: dict[str, Any]
    data: str
    process_person: bool


def decode_body(body: bytes, content_encoding: str = "", compression: str = "") -> bytes:
    """Undo ``Content-Encoding`` (or ``?compression=``) with a bound on the inflated size."""
    encoding = (content_encoding or compression or "").strip().lower()
    if encoding in ("gzip", "gzip-js", "x-gzip") or (not encoding and body[:2] == b"\x1f\x8b"):
        return _inflate(body, 16 + zlib.MAX_WBITS, "gzip")
    if encoding == "deflate":
        try:
            return _inflate(body, zlib.MAX_WBITS, "deflate")
        except Exception:
            return _inflate(body, -zlib.MAX_WBITS, "deflate")
    if encoding in ("", "identity", "none"):
        return body
    raise bad_request("unsupported_encoding", f"Unsupported content encoding {encoding!r}.")


def _inflate(body: bytes, wbits: int, name: str) -> bytes:
    try:
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(body, MAX_BODY_BYTES + 1)
        if len(out) > MAX_BODY_BYTES or inflater.unconsumed_tail:
            raise bad_request("body_too_large", "Decompressed body exceeds 20 MiB.")
        if not inflater.eof:
            raise bad_request("invalid_compression", f"Invalid {name} body: truncated stream.")
        return out
    except (zlib.error, EOFError, gzip.BadGzipFile) as exc:
        raise bad_request("invalid_compression", f"Invalid {name} body: {exc}.") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(data: bytes) -> Any:
    """Strict JSON: no NaN/Infinity, bounded nesting, UTF-8 text."""
    if not data.strip():
        raise bad_request("empty_body", "The request body is empty.")
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise bad_request("invalid_payload", "Malformed JSON: nested too deeply.") from None
    except UnicodeDecodeError:
        raise bad_request("invalid_payload", "Malformed JSON: body is not UTF-8.") from None
    except ValueError as exc:
        raise bad_request("invalid_payload", f"Malformed JSON: {exc}.") from None


def parse_payload(data: bytes, content_type: str) -> Any:
    """JSON body, or the browser-style form body ``data=<json or base64 json>``."""
    if "x-www-form-urlencoded" in content_type.lower():
        fields = parse_qs(data.decode("latin-1"))
        encoded = (fields.get("data") or [""])[0]
        if not encoded:
            raise bad_request("invalid_payload", "Form body has no 'data' field.")
        text = encoded.encode("latin-1")
        if not text.lstrip().startswith((b"{", b"[")):
            try:
                text = base64.b64decode(text + b"=" * (-len(text) % 4))
            except ValueError:
                raise bad_request("invalid_payload", "Form 'data' is not base64.") from None
        return parse_json(text)
    return parse_json(data)


def api_key_of(payload: Any, bearer: str | None, query_token: str | None) -> str | None:
    """The project key of a v0 capture request: body, header, query, then first event."""
    if isinstance(payload, dict):
        for name in ("api_key", "token"):
            if isinstance(payload.get(name), str) and payload[name]:
                return str(payload[name])
    if bearer:
        return bearer
    if query_token:
        return query_token
    for item in _items(payload):
        if not isinstance(item, dict):
            continue
        for name in ("api_key", "token"):
            if isinstance(item.get(name), str) and item[name]:
                return str(item[name])
        props = item.get("properties")
        if isinstance(props, dict) and isinstance(props.get("token"), str) and props["token"]:
            return str(props["token"])
    return None


def _items(payload: Any) -> list[Any]:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        batch = payload.get("batch")
        if isinstance(batch, list):
            return batch
        if "batch" in payload:
            raise bad_request("invalid_payload", "'batch' must be a list of events.", "batch")
        return [payload]
    raise bad_request("invalid_payload", "The body must be a JSON object or a list of events.")


def parse_events(payload: Any, now: datetime | None = None) -> list[IncomingEvent]:
    """Every event of a v0 body (single event, ``{"batch": [...]}`` or a bare list)."""
    received = (now or datetime.now(timezone.utc)).isoformat()
    items = _items(payload)
    if not items:
        raise bad_request("no_events", "The batch contains no events.", "batch")
    return [_event(item, f"batch[{i}]", received) for i, item in enumerate(items)]


def parse_events_v1(payload: Any, now: datetime | None = None) -> list[IncomingEvent]:
    """Capture v1 (``/i/v1/analytics/events``): ``{"created_at", "batch": [...]}``."""
    received = (now or datetime.now(timezone.utc)).isoformat()
    if not isinstance(payload, dict) or not isinstance(payload.get("batch"), list):
        raise bad_request("invalid_payload", "Body must be an object with a 'batch' list.", "batch")
    if not payload["batch"]:
        raise bad_request("no_events", "The batch contains no events.", "batch")
    events = []
    for i, item in enumerate(payload["batch"]):
        where = f"batch[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("uuid"), str):
            raise bad_request("invalid_event", f"{where}: every v1 event needs a 'uuid'.", where)
        options = item.get("options", {})
        if not isinstance(options, dict):
            raise bad_request("invalid_event", f"{where}: 'options' must be an object.", where)
        events.append(_event(item, where, received, options.get("process_person_profile")))
    return events


def _event(item: Any, where: str, received: str, person_option: Any = None) -> IncomingEvent:
    if not isinstance(item, dict):
        raise bad_request("invalid_event", f"{where}: an event must be a JSON object.", where)
    name = item.get("event")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("invalid_event", f"{where}: event has no name ('event').", where)
    distinct_id = _distinct_id(item, where)
    props = item.get("properties", {})
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise bad_request("invalid_event", f"{where}: 'properties' must be an object.", where)
    if "$set" in item or "$set_once" in item or "$set" in props or "$set_once" in props:
        _check_person_updates(item, props, where)
    event_uuid = _uuid(item.get("uuid"), where)
    raw = item if item.get("uuid") == event_uuid else {**item, "uuid": event_uuid}
    try:
        data = _encode(raw)
    except (RecursionError, ValueError):
        raise bad_request("invalid_event", f"{where}: event cannot be stored.", where) from None
    process = person_option if person_option is not None else props.get("$process_person_profile")
    if name == "$groupidentify":
        # Group updates are about the group: SDKs send them under a throwaway distinct id,
        # which must not become a person (PostHog does not create one either).
        process = False
    return IncomingEvent(
        uuid=event_uuid,
        event=name,
        distinct_id=distinct_id,
        timestamp=_timestamp(item.get("timestamp"), where, received),
        properties=props,
        raw=raw,
        data=data,
        process_person=process not in (False, "false", "False", 0),
    )


def _check_person_updates(item: Mapping[str, Any], props: Mapping[str, Any], where: str) -> None:
    for key in _PERSON_KEYS:
        for source in (item, props):
            if key in source and not isinstance(source[key], (dict, type(None))):
                raise bad_request("invalid_event", f"{where}: '{key}' must be an object.", where)


def _distinct_id(item: Mapping[str, Any], where: str) -> str:
    value = item.get("distinct_id")
    if value is None and isinstance(item.get("properties"), dict):
        value = item["properties"].get("distinct_id")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        if value is None:
            raise bad_request("invalid_event", f"{where}: event has no 'distinct_id'.", where)
        raise bad_request("invalid_event", f"{where}: 'distinct_id' must be a string.", where)
    text = str(value)
    if not text.strip():
        raise bad_request("invalid_event", f"{where}: 'distinct_id' is empty.", where)
    return text


def _uuid(value: Any, where: str) -> str:
    if value is None:
        return str(uuidlib.uuid4())
    if isinstance(value, str):
        if _CANONICAL_UUID.fullmatch(value):
            return value
        try:
            return str(uuidlib.UUID(value))
        except ValueError:
            pass
    raise bad_request("invalid_event", f"{where}: 'uuid' is not a valid UUID.", where)


def _timestamp(value: Any, where: str, received: str) -> str:
    if value is None:
        return received
    if not isinstance(value, str):
        raise bad_request("invalid_event", f"{where}: 'timestamp' must be a string.", where)
    text = value.strip()
    if text.endswith("+00:00"):
        try:
            datetime.fromisoformat(text)
            return text
        except ValueError:
            return received
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return received
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat()
