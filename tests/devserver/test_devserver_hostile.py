"""Malformed and hostile input: a clear 400 (nothing stored) or stored verbatim; never a crash."""

from __future__ import annotations

import base64
import gzip
import json
import socket
from typing import Any
from urllib.parse import quote

import pytest
from devserver_helpers import Http, event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posthog_devserver import DevServer

JSON = {"Content-Type": "application/json"}
GZIP = {**JSON, "Content-Encoding": "gzip"}
GOOD = json.dumps({"api_key": "phc_test", "batch": [event("ok")]}).encode()


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


def batch(*events: Any) -> bytes:
    return body({"api_key": "phc_test", "batch": list(events)})


BAD: list[tuple[str, bytes, dict[str, str], str]] = [
    ("non-json", b"this is not json", JSON, "invalid_payload"),
    ("truncated-json", GOOD[:-7], JSON, "invalid_payload"),
    ("empty", b"", JSON, "empty_body"),
    ("truncated-gzip", gzip.compress(GOOD)[:-9], GZIP, "invalid_compression"),
    ("garbage-gzip", b"\x1f\x8b\x08\x00garbage", GZIP, "invalid_compression"),
    ("gzip-says-plain", GOOD, GZIP, "invalid_compression"),
    ("unknown-encoding", GOOD, {**JSON, "Content-Encoding": "br"}, "unsupported_encoding"),
    ("gzip-bomb", gzip.compress(b" " * (21 * 1024 * 1024)), GZIP, "body_too_large"),
    ("not-utf8", b'{"api_key": "\xff\xfe"}', JSON, "invalid_payload"),
    ("nan", GOOD.replace(b'"ok"', b"NaN"), JSON, "invalid_payload"),
    # JSON can spell a lone surrogate, which has no UTF-8 form and so cannot be stored
    ("lone-surrogate", batch(event(properties={"text": "\ud800"})), JSON, "invalid_event"),
    ("deep-nesting", b"[" * 100_000 + b"]" * 100_000, JSON, "invalid_payload"),
    ("top-level-string", body("hello"), JSON, "invalid_payload"),
    ("top-level-number", b"12", JSON, "invalid_payload"),
    ("no-api-key", body({"batch": [event()]}), JSON, "missing_api_key"),
    ("api-key-wrong-type", body({"api_key": 5, "batch": [event()]}), JSON, "missing_api_key"),
    ("batch-not-list", body({"api_key": "k", "batch": {"event": "x"}}), JSON, "invalid_payload"),
    ("empty-batch", batch(), JSON, "no_events"),
    ("event-is-string", batch("pageview"), JSON, "invalid_event"),
    ("no-event-name", batch({"distinct_id": "d"}), JSON, "invalid_event"),
    ("blank-event-name", batch(event(" ")), JSON, "invalid_event"),
    ("event-name-number", batch(event(123)), JSON, "invalid_event"),  # type: ignore[arg-type]
    ("no-distinct-id", batch({"event": "e", "properties": {}}), JSON, "invalid_event"),
    ("empty-distinct-id", batch(event("e", "")), JSON, "invalid_event"),
    ("distinct-id-object", batch(event("e", {"a": 1})), JSON, "invalid_event"),  # type: ignore[arg-type]
    ("properties-list", batch({**event(), "properties": [1]}), JSON, "invalid_event"),
    ("set-string", batch({**event(), "$set": "x"}), JSON, "invalid_event"),
    ("bad-uuid", batch({**event(), "uuid": "not-a-uuid"}), JSON, "invalid_event"),
    ("timestamp-number", batch({**event(), "timestamp": 17}), JSON, "invalid_event"),
    ("one-bad-in-batch", batch(event("fine"), {"event": "no id"}), JSON, "invalid_event"),
]


@pytest.mark.parametrize(("name", "raw", "headers", "code"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_a_400_naming_the_problem(
    http: Http, name: str, raw: bytes, headers: dict[str, str], code: str
) -> None:
    reply = http.request("POST", "/batch/", raw, headers)
    assert reply.status == 400, reply.body
    error = reply.json()
    assert error["type"] == "validation_error" and error["code"] == code and error["detail"]
    assert http.events() == []  # nothing, not even the valid part of the batch
    assert http.batch([event("still serving")]).status == 200
    assert [e["event"] for e in http.events()] == ["still serving"]


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
EURO = "€ ünïcödé 🦔"
EURO_JSON = json.dumps({"api_key": "phc_test", **event(EURO)}, ensure_ascii=False).encode()
EURO_B64 = base64.b64encode(EURO_JSON)
NOT_UTF8 = b'{"api_key": "phc_test", "event": "\xff", "distinct_id": "d"}'


def _with_plus() -> bytes:
    """A JSON event whose base64 has a '+' (which form encoding turns into a space)."""
    for n in range(64):
        message = {"api_key": "phc_test", **event(EURO, properties={"pad": "~" * n})}
        encoded = base64.b64encode(json.dumps(message, ensure_ascii=False).encode())
        if b"+" in encoded:
            return encoded
    raise AssertionError("no '+' found")


# a browser's form and query bodies: data=<JSON or base64 JSON>, percent-encoded as UTF-8
ENCODED: list[tuple[str, str, str, bytes, dict[str, str], int, str]] = [
    # (name, method, target, body, headers, status, event stored or error code)
    ("form-json", "POST", "/batch/", b"data=" + quote(EURO_JSON).encode(), FORM, 200, EURO),
    ("form-raw-utf8", "POST", "/e/", b"data=" + EURO_JSON, FORM, 200, EURO),
    ("form-base64", "POST", "/e/", b"data=" + quote(EURO_B64).encode(), FORM, 200, EURO),
    ("form-base64-plus", "POST", "/e/", b"data=" + _with_plus(), FORM, 200, EURO),
    ("query-json", "GET", "/e/?data=" + quote(EURO_JSON), b"", {}, 200, EURO),
    ("query-base64", "GET", "/e/?data=" + quote(EURO_B64), b"", {}, 200, EURO),
    ("query-euro", "GET", "/e/?data=%E2%82%AC", b"", {}, 400, "invalid_payload"),
    ("query-not-utf8", "GET", "/e/?data=" + quote(NOT_UTF8), b"", {}, 400, "invalid_payload"),
    ("query-no-data", "GET", "/e/?token=phc_test", b"", {}, 400, "invalid_payload"),
    ("form-euro", "POST", "/batch/", b"data=%E2%82%AC", FORM, 400, "invalid_payload"),
    (
        "form-not-utf8",
        "POST",
        "/e/",
        b"data=" + quote(NOT_UTF8).encode(),
        FORM,
        400,
        "invalid_payload",
    ),
    ("form-no-data", "POST", "/e/", b"other=1", FORM, 400, "invalid_payload"),
    ("form-bad-base64", "POST", "/e/", b"data=abc%25", FORM, 400, "invalid_payload"),
]


@pytest.mark.parametrize(
    ("name", "method", "target", "raw", "headers", "status", "expected"),
    ENCODED,
    ids=[c[0] for c in ENCODED],
)
def test_form_and_query_bodies_are_utf8_stored_or_400(
    http: Http,
    name: str,
    method: str,
    target: str,
    raw: bytes,
    headers: dict[str, str],
    status: int,
    expected: str,
) -> None:
    reply = http.request(method, target, raw or None, headers)
    assert reply.status == status, reply.body
    if status == 200:
        assert [e["event"] for e in http.events()] == [expected]
    else:
        assert reply.json()["code"] == expected and http.events() == []
    assert http.get("/_health").status == 200


def test_named_event_index_in_error(http: Http) -> None:
    reply = http.request("POST", "/batch/", batch(event(), event(), {"event": "x"}), JSON)
    assert reply.json()["attr"] == "batch[2]" and "batch[2]" in reply.json()["detail"]


def test_body_over_20_mib_is_refused(http: Http) -> None:
    huge = batch(event(properties={"blob": "x" * (21 * 1024 * 1024)}))
    reply = http.request("POST", "/batch/", huge, JSON)
    assert (reply.status, reply.json()["code"]) == (400, "body_too_large")
    assert http.batch([event("after")]).status == 200


def test_absurd_content_length_is_refused_without_reading(dev: DevServer) -> None:
    with socket.create_connection(("127.0.0.1", dev.port), timeout=10) as sock:
        sock.sendall(b"POST /batch/ HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400") and b"body_too_large" in answer


def test_hostile_values_are_stored_verbatim(http: Http) -> None:
    script = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    nested: Any = "bottom"
    for _ in range(200):
        nested = {"n": nested}
    props = {
        "html": script,
        script: "key too",
        "big": "y" * (2 * 1024 * 1024),
        "nested": nested,
        "unicode": "\u202e\u0000\ud7ff emoji \U0001f994",
        "numbers": [0, -1, 1.5e300, 2**70],
    }
    message = event(script, script, properties=props)
    assert http.batch([message]).status == 200
    [row] = http.events()
    assert row["message"] == message
    assert row["event"] == script and row["distinct_id"] == script


def test_unknown_routes_and_methods(http: Http) -> None:
    assert http.get("/nope").status == 404
    assert http.request("DELETE", "/batch/").status == 405
    assert http.request("OPTIONS", "/batch/").status == 204


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload=st.one_of(
        json_values,
        st.fixed_dictionaries({"api_key": json_values, "batch": json_values}),
        st.fixed_dictionaries(
            {"api_key": st.just("phc_test"), "batch": st.lists(json_values, max_size=3)}
        ),
        st.fixed_dictionaries(
            {
                "api_key": st.just("phc_test"),
                "event": st.text() | json_values,
                "distinct_id": st.text() | json_values,
                "properties": json_values,
            }
        ),
    )
)
def test_arbitrary_json_never_breaks_the_server(http: Http, payload: Any) -> None:
    reply = http.request("POST", "/batch/", body(payload), JSON)
    assert reply.status in (200, 400), reply.body
    assert "detail" in reply.json() or reply.json() == {"status": 1}
    assert http.get("/_health").status == 200
