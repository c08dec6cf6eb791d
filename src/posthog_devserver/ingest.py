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

from . import persons as rules
from .errors import bad_request

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - PyPy: the stdlib does everything
    _orjson = None  # type: ignore[assignment]

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


_encode_text = _make_encoder()
_PERSON_KEYS = ("$set", "$set_once")
Encoder = Callable[[Any], str]
# orjson reads an integer literal over 64 bits as a float, silently; every literal of at
# most 18 digits fits, so a body with a longer run of digits is read by the stdlib.
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_DIGIT_RUN = b"0" * 19


def _encode(value: Any) -> str:
    """JSON text of a value the stdlib parsed; ValueError when SQLite could not store it.

    The stdlib reads a lone surrogate escape (``"\\ud800"``) into a string that has no
    UTF-8 form: refusing it here gives the client a 400 instead of a write that fails
    after the request was answered.
    """
    text = _encode_text(value)
    text.encode()  # UnicodeEncodeError is a ValueError
    return text


def _encode_fast(value: Any) -> str:
    """``_encode``'s JSON (compact) via orjson, for values orjson itself parsed.

    Such values hold only finite floats and 64-bit integers, which orjson writes exactly;
    nesting past orjson's depth limit falls back to the stdlib encoder.
    """
    try:
        return _orjson.dumps(value).decode()
    except _orjson.JSONEncodeError:
        return _encode_text(value)


class Payload(NamedTuple):
    """A parsed JSON body and the encoder that writes its events back exactly."""

    value: Any
    encode: Encoder


class IncomingEvent(NamedTuple):
    """One validated event: ``data`` is the event as sent (uuid filled in when absent).

    A named tuple rather than a frozen dataclass: the server builds one per event on the
    hot path, and tuple construction is several times cheaper. It carries what the writer
    needs, already decided by the pure rules of :mod:`.persons`, rather than the parsed
    dicts: events queued for the writer then hold no containers for the cyclic garbage
    collector to walk again and again.
    """

    uuid: str
    event: str
    distinct_id: str
    timestamp: str
    data: str
    process_person: bool
    group_types: tuple[str, ...] = ()  # named by ``$groups`` or a ``$groupidentify``
    group_identify: rules.GroupIdentify | None = None
    merge_partner: str | None = None  # the other distinct id of an identify or alias
    person_updates: rules.PropertyUpdates = rules.NO_UPDATES


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
    return _parse(data).value


def _parse(data: bytes) -> Payload:
    """orjson where it reads exactly what the stdlib would; the stdlib for everything else.

    orjson refuses what the stdlib handles differently (huge or infinite numbers, lone
    surrogates, a BOM, invalid UTF-8, very deep nesting), so any refusal is decided,
    accepted or explained, by the stdlib, with the same outcome and messages as ever.
    """
    if not data.strip():
        raise bad_request("empty_body", "The request body is empty.")
    if _orjson is not None and data.translate(_DIGITS).find(_LONG_DIGIT_RUN) < 0:
        try:
            return Payload(_orjson.loads(data), _encode_fast)
        except _orjson.JSONDecodeError:
            pass
    return Payload(_loads(data), _encode)


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise bad_request("invalid_payload", "Malformed JSON: nested too deeply.") from None
    except UnicodeDecodeError:
        raise bad_request("invalid_payload", "Malformed JSON: body is not UTF-8.") from None
    except ValueError as exc:
        raise bad_request("invalid_payload", f"Malformed JSON: {exc}.") from None


def parse_payload(data: bytes, content_type: str) -> Payload:
    """JSON body, or the browser-style form body ``data=<json or base64 json>``."""
    if "x-www-form-urlencoded" in content_type.lower():
        return _parse(query_data(data.decode("latin-1")))
    return _parse(data)


def query_data(encoded: str) -> bytes:
    """The JSON bytes of the ``data`` field of a form body or query string.

    Percent-escapes are decoded to bytes, never to text: the JSON parser then reads those
    bytes as UTF-8, so ``%E2%82%AC`` is a euro sign and invalid UTF-8 is a 400. ``encoded``
    holds one character per byte (Latin-1), as ``http.server`` reads the request line.
    """
    values = parse_qs(encoded, keep_blank_values=True, encoding="latin-1").get("data")
    text = values[0].encode("latin-1") if values else b""
    if not text.strip():
        raise bad_request("invalid_payload", "No 'data' field in the form body or query.", "data")
    if text.lstrip().startswith((b"{", b"[")):
        return text
    # form encoding turns a base64 '+' into a space; a space is never base64 itself
    text = text.strip().replace(b" ", b"+")
    try:
        return base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except ValueError:
        raise bad_request(
            "invalid_payload", "Form 'data' is neither JSON nor base64 JSON.", "data"
        ) from None


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


def parse_events(
    payload: Any, now: datetime | None = None, encode: Encoder = _encode
) -> list[IncomingEvent]:
    """Every event of a v0 body (single event, ``{"batch": [...]}`` or a bare list)."""
    received = (now or datetime.now(timezone.utc)).isoformat()
    items = _items(payload)
    if not items:
        raise bad_request("no_events", "The batch contains no events.", "batch")
    return [_event(item, f"batch[{i}]", received, encode) for i, item in enumerate(items)]


def parse_events_v1(
    payload: Any, now: datetime | None = None, encode: Encoder = _encode
) -> list[IncomingEvent]:
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
        person_option = options.get("process_person_profile")
        events.append(_event(item, where, received, encode, person_option))
    return events


def _event(
    item: Any, where: str, received: str, encode: Encoder, person_option: Any = None
) -> IncomingEvent:
    # Per event on the hot path: the common shapes take the inline fast paths; anything
    # else goes through the helpers, which decide exactly as before (and name errors).
    if type(item) is not dict:
        raise bad_request("invalid_event", f"{where}: an event must be a JSON object.", where)
    name = item.get("event")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("invalid_event", f"{where}: event has no name ('event').", where)
    distinct_id = item.get("distinct_id")
    if type(distinct_id) is not str or not distinct_id.strip():
        distinct_id = _distinct_id(item, where)
    props = item.get("properties", {})
    if type(props) is not dict:
        if props is None:
            props = {}
        elif not isinstance(props, dict):
            raise bad_request("invalid_event", f"{where}: 'properties' must be an object.", where)
    if "$set" in item or "$set_once" in item or "$set" in props or "$set_once" in props:
        _check_person_updates(item, props, where)
    sent_uuid = item.get("uuid")
    if type(sent_uuid) is str and _CANONICAL_UUID.fullmatch(sent_uuid):
        event_uuid, raw = sent_uuid, item
    else:
        event_uuid = _uuid(sent_uuid, where)
        raw = item if sent_uuid == event_uuid else {**item, "uuid": event_uuid}
    try:
        data = encode(raw)
    except (RecursionError, ValueError):
        raise bad_request("invalid_event", f"{where}: event cannot be stored.", where) from None
    process = person_option if person_option is not None else props.get("$process_person_profile")
    if name == rules.GROUP_IDENTIFY:
        # Group updates are about the group: SDKs send them under a throwaway distinct id,
        # which must not become a person (PostHog does not create one either).
        process = False
    process_person = process not in (False, "false", "False", 0)
    groups = props.get("$groups")
    if type(groups) is dict and "" not in groups and name != rules.GROUP_IDENTIFY:
        # what group_types_in decides, for the usual $groups: JSON keys are distinct strings
        group_types: tuple[str, ...] = tuple(groups)
    else:
        group_types = tuple(rules.group_types_in(name, props))
    special = name[:1] == "$"
    return IncomingEvent(
        event_uuid,
        name,
        distinct_id,
        _timestamp(item.get("timestamp"), where, received),
        data,
        process_person,
        group_types,
        rules.group_identify(name, props) if special else None,
        rules.merge_partner(name, distinct_id, props) if special and process_person else None,
        rules.person_updates(raw, props) if process_person else rules.NO_UPDATES,
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
