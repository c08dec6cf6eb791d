"""Remote evaluation: ``POST {host}/flags/?v=2`` (spec 3.8) and remote config (3.10).

The body builder, the response normaliser and the retry loop (``flags_exchange``, a
sans-I/O generator the asyncio client drives too) are pure; ``request_flags`` and
``request_remote_config`` are the only functions here that touch the transport, and they
raise only ``posthog.exceptions`` errors (the caller turns them into error codes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeAlias, TypeVar

from posthog._transport.base import Request, Response, Transport
from posthog.exceptions import (
    APIError,
    PostHogError,
    QuotaLimitError,
    RequestTimeoutError,
    TransportError,
)
from posthog.version import VERSION

__all__ = [
    "FLAGS_PATH",
    "Exchange",
    "MalformedResponseError",
    "RemoteFlag",
    "RemoteResponse",
    "build_body",
    "drive",
    "error_code",
    "flags_exchange",
    "normalise",
    "read_flags",
    "read_remote_config",
    "remote_config_request",
    "request_flags",
    "request_remote_config",
]

FLAGS_PATH = "/flags/?v=2"  # PostHog's documented server version; v4 records parse too
USER_AGENT = f"hogwire/{VERSION}"
_RETRY_STATUSES = frozenset({502, 504})


@dataclass(frozen=True, slots=True)
class RemoteFlag:
    """One ``/flags`` record normalised (v2, v4 and legacy decide shapes)."""

    key: str
    value: bool | str | None  # None: failed; False: disabled, or malformed (spec 3.8)
    payload: str | None  # JSON string; a disabled flag keeps its own (spec 5.1)
    reason_code: str | None = None
    description: str | None = None
    condition_index: int | None = None
    flag_id: int | None = None
    version: int | None = None
    has_experiment: bool | None = None
    failed: bool = False
    malformed: str | None = None  # the field with the wrong JSON type


@dataclass(frozen=True, slots=True)
class RemoteResponse:
    flags: Mapping[str, RemoteFlag] = field(default_factory=dict)
    errors_while_computing: bool = False
    quota_limited: bool = False
    request_id: str | None = None
    evaluated_at: int | None = None
    minimal_events: bool = False


def build_body(
    *,
    api_key: str,
    distinct_id: Any,
    groups: Mapping[str, Any],
    person_properties: Mapping[str, Any],
    group_properties: Mapping[str, Mapping[str, Any]],
    geoip_disable: bool,
    device_id: Any,
    flag_keys: Sequence[str] | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The JSON body of ``/flags`` (spec 3.8); ``$group_key`` merged under caller values."""
    props: dict[str, dict[str, Any]] = {k: dict(v) for k, v in group_properties.items()}
    for group_type, group_key in groups.items():
        props[group_type] = {"$group_key": group_key, **props.get(group_type, {})}
    body: dict[str, Any] = {
        "distinct_id": distinct_id,
        "groups": dict(groups),
        "person_properties": dict(person_properties),
        "group_properties": props,
        "geoip_disable": bool(geoip_disable),
        "device_id": device_id,
    }
    if flag_keys:
        body["flag_keys_to_evaluate"] = list(flag_keys)
    body["sent_at"] = (now or datetime.now(timezone.utc)).isoformat()
    body["api_key"] = api_key
    return body


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


class MalformedResponseError(PostHogError):
    """A 200 ``/flags`` answer whose body is not JSON: ``unknown_error`` (spec 5.1)."""


def _integral(value: Any) -> bool:
    return _int(value) is not None


def _is(kind: type) -> Callable[[Any], bool]:
    return lambda value: value is None or isinstance(value, kind)


# The known fields of a ``/flags`` record and their JSON types (``None`` = null/absent).
_EXPECTED: dict[str, Callable[[Any], bool]] = {
    "key": _is(str),
    "enabled": _is(bool),
    "variant": _is(str),
    "failed": _is(bool),
    "reason": _is(dict),
    "metadata": _is(dict),
}
_EXPECTED_REASON: dict[str, Callable[[Any], bool]] = {
    "code": _is(str),
    "description": _is(str),
    "condition_index": lambda value: value is None or _integral(value),
}
_EXPECTED_METADATA: dict[str, Callable[[Any], bool]] = {
    "id": lambda value: value is None or _integral(value),
    "version": lambda value: value is None or _integral(value),
    "description": _is(str),
    "has_experiment": _is(bool),
}


def _wrong_field(raw: Mapping[str, Any]) -> str | None:
    """The first known field of a record with the wrong JSON type (dotted when nested)."""
    for name, ok in _EXPECTED.items():
        if name in raw and not ok(raw[name]):
            return name
    for part, table in (("reason", _EXPECTED_REASON), ("metadata", _EXPECTED_METADATA)):
        nested = raw.get(part) or {}
        for name, ok in table.items():
            if name in nested and not ok(nested[name]):
                return f"{part}.{name}"
    return None


def _malformed(key: str, field_name: str) -> RemoteFlag:
    """Spec 3.8/5.1: only this record is malformed; it reads as disabled."""
    return RemoteFlag(key, False, None, failed=True, malformed=field_name)


def _record(key: str, raw: Any) -> RemoteFlag:
    if not isinstance(raw, Mapping):
        return _malformed(key, "record")
    wrong = _wrong_field(raw)
    if wrong is not None:
        return _malformed(key, wrong)
    meta = raw.get("metadata") or {}
    reason = raw.get("reason") or {}
    payload = meta.get("payload")
    if payload is not None and not isinstance(payload, str):
        payload = json.dumps(payload, separators=(",", ":"))
    common: dict[str, Any] = {  # types checked by ``_wrong_field``
        "reason_code": reason.get("code"),
        "description": reason.get("description"),
        "condition_index": _int(reason.get("condition_index")),
        "flag_id": _int(meta.get("id")),
        "version": _int(meta.get("version")),
        "has_experiment": meta.get("has_experiment"),
    }
    if raw.get("failed") is True:
        return RemoteFlag(key, None, None, failed=True, **common)
    value: bool | str | None
    if "value" in raw:
        typed = raw["value"]
        if typed is None or typed is False:
            value = False
        elif typed is True or isinstance(typed, str):
            value = _variant_or(typed, True)
        else:  # a number or an object: enabled, the value is the payload
            value = True
            payload = json.dumps(typed, separators=(",", ":"))
    else:
        value = _variant_or(raw.get("variant"), bool(raw.get("enabled")))
    # A disabled flag keeps its payload: single reads return it (spec 5.1, "remote keeps
    # the server payload"); bulk getters leave disabled flags' payloads out (spec 3.8).
    return RemoteFlag(key, value, payload, **common)


def _variant_or(variant: Any, enabled: bool) -> bool | str:
    """``variant or enabled``: an empty variant string is no variant (spec 5.1)."""
    return variant if isinstance(variant, str) and variant else enabled


def _legacy(data: Mapping[str, Any]) -> dict[str, RemoteFlag]:
    values = data.get("featureFlags")
    payloads = data.get("featureFlagPayloads") or {}
    out: dict[str, RemoteFlag] = {}
    if not isinstance(values, Mapping):
        return out
    for key, value in values.items():
        if not isinstance(value, (bool, str)):
            out[key] = _malformed(key, "featureFlags")
            continue
        payload = payloads.get(key) if isinstance(payloads, Mapping) else None
        if payload is not None and not isinstance(payload, str):
            payload = json.dumps(payload, separators=(",", ":"))
        if isinstance(value, str):
            value = _variant_or(value, True)
        out[key] = RemoteFlag(key, value, payload)
    return out


def normalise(data: Any) -> RemoteResponse:
    """Any ``/flags`` body into a ``RemoteResponse``; never raises."""
    if not isinstance(data, Mapping):
        return RemoteResponse(errors_while_computing=True)
    raw_flags = data.get("flags")
    if isinstance(raw_flags, Mapping):
        flags = {str(k): _record(str(k), v) for k, v in raw_flags.items()}
    else:
        flags = _legacy(data)
    quota = data.get("quotaLimited")
    request_id = data.get("requestId")
    return RemoteResponse(
        flags,
        errors_while_computing=data.get("errorsWhileComputingFlags") is True,
        quota_limited=isinstance(quota, list) and "feature_flags" in quota,
        request_id=request_id if isinstance(request_id, str) else None,
        evaluated_at=_int(data.get("evaluatedAt")),
        minimal_events=data.get("minimalFlagCalledEvents") is True,
    )


def error_code(exc: BaseException) -> str:
    """The ``$feature_flag_error`` code for a failed remote call."""
    if isinstance(exc, QuotaLimitError):
        return "quota_limited"
    if isinstance(exc, APIError):
        return f"api_error_{exc.status}"
    if isinstance(exc, RequestTimeoutError):
        return "timeout"
    if isinstance(exc, TransportError):
        return "connection_error"
    return "unknown_error"


def flags_exchange(
    host: str, body: Mapping[str, Any], *, timeout: float, max_retries: int
) -> Generator[Request | float, Response | TransportError | None, RemoteResponse]:
    """``POST /flags`` as a sans-I/O exchange, shared by the sync and asyncio clients.

    Yields a ``Request`` (resume with its ``Response``, or the ``TransportError`` the
    transport raised) or seconds to sleep (resume with None); returns the normalised
    response or raises a ``posthog.exceptions`` error. One retry (by default) on transport
    errors and 502/504, but not on a refused connection; an ``APIError`` from the
    transport itself is final.
    """
    request = Request(
        "POST",
        host.rstrip("/") + FLAGS_PATH,
        {"Content-Type": "application/json", "User-Agent": USER_AGENT},
        json.dumps(body, default=str).encode(),
        timeout,
    )
    attempt = 0
    while True:
        reply = yield request
        if isinstance(reply, APIError):
            raise reply
        if isinstance(reply, TransportError):
            if reply.refused or attempt >= max_retries:
                raise reply  # nothing listens there: an immediate retry would meet the same
        elif reply is None:  # a driver bug, not a network condition
            raise TypeError("a Request must be answered with a Response or a TransportError")
        elif reply.status == 200:
            return read_flags(reply)
        elif reply.status not in _RETRY_STATUSES or attempt >= max_retries:
            raise APIError(reply.status, _message(reply.body))
        yield 0.3 * 2**attempt
        attempt += 1


def read_flags(response: Response) -> RemoteResponse:
    """A 200 ``/flags`` answer; malformed JSON and quota limits become errors."""
    try:
        data = json.loads(response.body)
    except ValueError:
        raise MalformedResponseError("the /flags response is not JSON") from None
    result = normalise(data)
    if result.quota_limited:
        raise QuotaLimitError(200, "feature flags are quota limited")
    return result


T = TypeVar("T")
Exchange: TypeAlias = Generator[Request | float, Response | TransportError | None, T]


def drive(steps: Exchange[T], transport: Transport, sleep: Callable[[float], None]) -> T:
    """Run a sans-I/O exchange with a blocking transport: send each ``Request`` (answer
    it with the ``Response`` or the ``TransportError``), sleep each delay."""
    try:
        step = next(steps)
        while True:
            reply: Response | TransportError | None = None
            if isinstance(step, Request):
                try:
                    reply = transport.request(step)
                except TransportError as exc:
                    reply = exc
            else:
                sleep(step)
            step = steps.send(reply)
    except StopIteration as done:
        result: T = done.value
        return result
    finally:
        steps.close()  # a driver that gave up (an unexpected error) lets the exchange know


def request_flags(
    transport: Transport,
    host: str,
    body: Mapping[str, Any],
    *,
    timeout: float,
    max_retries: int,
    sleep: Callable[[float], None] = time.sleep,
) -> RemoteResponse:
    """``flags_exchange`` with a blocking transport and ``sleep``."""
    steps = flags_exchange(host, body, timeout=timeout, max_retries=max_retries)
    return drive(steps, transport, sleep)


def remote_config_request(
    host: str, api_key: str, secret: str, key: str, timeout: float
) -> Request:
    """The GET for the decrypted payload of a remote-config flag (spec 3.10)."""
    url = (
        f"{host.rstrip('/')}/api/projects/@current/feature_flags/{key}/remote_config"
        f"?token={api_key}"
    )
    headers = {"Authorization": f"Bearer {secret}", "User-Agent": USER_AGENT}
    return Request("GET", url, headers, None, timeout)


def read_remote_config(response: Response) -> Any:
    """The payload of a remote-config answer; any other status or bad JSON is an error."""
    if response.status != 200:
        raise APIError(response.status, _message(response.body))
    try:
        return json.loads(response.body)
    except ValueError:
        raise APIError(200, "malformed JSON in remote_config response") from None


def request_remote_config(
    transport: Transport, host: str, api_key: str, secret: str, key: str, timeout: float
) -> Any:
    """GET the decrypted payload of a remote-config flag (spec 3.10)."""
    request = remote_config_request(host, api_key, secret, key, timeout)
    return read_remote_config(transport.request(request))


def _message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace") or "request failed"
    if isinstance(data, Mapping) and isinstance(data.get("detail"), str):
        return str(data["detail"])
    return "request failed"
