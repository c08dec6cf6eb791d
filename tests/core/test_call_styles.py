"""The rule that tells the two documented capture call styles apart (posthog._events.args)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from posthog import InvalidArgumentError, Posthog
from posthog._events.args import resolve_capture
from posthog._transport import MockTransport

PROPS = {"movie_id": "123"}

RESOLVES: list[tuple[tuple[Any, ...], dict[str, Any], tuple[Any, Any, Any, str]]] = [
    (("distinct id", "movie played", PROPS), {}, ("movie played", "distinct id", PROPS, "classic")),
    (("distinct id", "movie played"), {}, ("movie played", "distinct id", None, "classic")),
    (
        ("distinct id",),
        {"event": "movie played", "properties": PROPS},
        ("movie played", "distinct id", PROPS, "classic"),
    ),
    ((), {"distinct_id": "d", "event": "e"}, ("e", "d", None, "classic")),
    (("movie played",), {"distinct_id": "u1"}, ("movie played", "u1", None, "current")),
    (("movie played",), {}, ("movie played", None, None, "current")),
    (("movie played", PROPS), {"distinct_id": "u1"}, ("movie played", "u1", PROPS, "current")),
    ((42, "signed up"), {}, ("signed up", 42, None, "classic")),
]


@pytest.mark.parametrize(("args", "kwargs", "expected"), RESOLVES)
def test_resolution_table(args: tuple[Any, ...], kwargs: dict[str, Any], expected: Any) -> None:
    call = resolve_capture(args, kwargs)
    assert (call.event, call.distinct_id, call.properties, call.style) == expected


def test_classic_positional_order_includes_timestamp_uuid_groups() -> None:
    call = resolve_capture(
        (
            "d",
            "e",
            {"a": 1},
            None,
            "2026-01-02T03:04:05Z",
            "0b0f3c4e-7bd9-4e55-9b2f-0b6c5d1f3a11",
            {"company": "c"},
        ),
        {},
    )
    assert call.timestamp == "2026-01-02T03:04:05Z"
    assert call.uuid == "0b0f3c4e-7bd9-4e55-9b2f-0b6c5d1f3a11"
    assert call.groups == {"company": "c"}


CONFLICTS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("d", "e"), {"distinct_id": "other"}),
    (("d", "e", {"a": 1}), {"properties": {"b": 2}}),
    (("e", 5), {}),
    (("a", {"x": 1}, "c"), {}),
    ((), {}),
    (("e",), {"bogus_option": 1}),
]


@pytest.mark.parametrize(("args", "kwargs"), CONFLICTS)
def test_ambiguous_calls_are_errors_not_silent_drops(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError):
        resolve_capture(args, kwargs)


def test_invalid_call_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    client = Posthog("phc", host="http://127.0.0.1:9", transport=MockTransport(), thread=0)
    with caplog.at_level(logging.WARNING, logger="posthog"):
        assert client.capture("d", "e", distinct_id="x") is None
    assert client.stats().dropped == {"invalid": 1}
    assert "invalid" in caplog.text and "both positionally and as a keyword" in caplog.text


def test_debug_raises_instead() -> None:
    client = Posthog("phc", host="http://127.0.0.1:9", transport=MockTransport(), thread=0)
    client.debug = True
    with pytest.raises(InvalidArgumentError):
        client.capture("d", "e", distinct_id="x")
    client.debug = False
    assert client.capture("d", "e", distinct_id="x") is None
