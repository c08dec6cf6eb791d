"""Arbitrary property values, oversized events and a full queue: clear outcomes, never a raise."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import logging
import math
import uuid
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posthog import MockTransport, Posthog, Request, Response
from posthog._events.encode import expand


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: float


class Model(pydantic.BaseModel):
    name: str
    tags: list[str]


def offline(**kw: Any) -> Posthog:
    """A client whose queue nobody drains: we read the encoded events directly."""
    return Posthog("phc", host="http://127.0.0.1:9", thread=0, transport=MockTransport(), **kw)


def queued_events(client: Posthog) -> list[dict[str, Any]]:
    return [json.loads(expand(item, client._defaults)) for item in client._lanes[0].items]


def test_special_values_are_serialised_sensibly(caplog: pytest.LogCaptureFixture) -> None:
    client = offline()
    cyclic: dict[str, Any] = {"name": "loop"}
    cyclic["self"] = cyclic
    props = {
        "when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        "day": dt.date(2026, 1, 2),
        "price": decimal.Decimal("9.99"),
        "id": uuid.UUID("0b0f3c4e-7bd9-4e55-9b2f-0b6c5d1f3a11"),
        "set": {3},
        "tuple": (1, 2),
        "bytes": b"caf\xc3\xa9",
        "point": Point(1, 2.5),
        "model": Model(name="m", tags=["a"]),
        "color": Color.RED,
        "nan": math.nan,
        "inf": -math.inf,
        5: "int key",
        "cyclic": cyclic,
        "opaque": object(),
    }
    with caplog.at_level(logging.WARNING, logger="posthog"):
        assert client.capture("values", distinct_id="u", properties=props) is not None
    [event] = queued_events(client)
    p = event["properties"]
    assert p["when"] == "2026-01-02T03:04:05+00:00" and p["day"] == "2026-01-02"
    assert p["price"] == 9.99 and p["id"] == "0b0f3c4e-7bd9-4e55-9b2f-0b6c5d1f3a11"
    assert p["set"] == [3] and p["tuple"] == [1, 2] and p["bytes"] == "café"
    assert p["point"] == {"x": 1, "y": 2.5} and p["model"] == {"name": "m", "tags": ["a"]}
    assert p["color"] == "red" and p["nan"] is None and p["inf"] is None and p["5"] == "int key"
    assert p["cyclic"] == {"name": "loop", "self": None} and p["opaque"] is None
    assert "cyclic reference" in caplog.text and "not JSON serialisable" in caplog.text


def test_caller_mutation_after_capture_does_not_change_the_event() -> None:
    client = offline()
    props: dict[str, Any] = {"items": [1]}
    client.capture("e", distinct_id="u", properties=props)
    props["items"].append(2)
    props["late"] = True
    assert queued_events(client)[0]["properties"]["items"] == [1]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.binary(max_size=20)
    | st.datetimes()
    | st.decimals()
    | st.uuids(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.one_of(st.text(), st.integers()), children, max_size=4)
        | st.sets(st.integers(), max_size=3).map(frozenset)
        | st.tuples(children, children)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_arbitrary_values_never_raise_and_produce_valid_json(props: dict[str, Any]) -> None:
    client = offline()
    assert client.capture("fuzz", distinct_id="u", properties=props) is not None
    [item] = client._lanes[0].items
    parsed = json.loads(expand(item, client._defaults))  # strict JSON: no NaN literals
    assert parsed["event"] == "fuzz"
    json.dumps(parsed, allow_nan=False)


def test_oversized_event_is_dropped_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = offline()
    big = {"blob": "x" * (901 * 1024)}
    with caplog.at_level(logging.WARNING, logger="posthog"):
        assert client.capture("big", distinct_id="u", properties=big) is None
        assert client.capture("big", distinct_id="u", properties=big) is None
    assert client.stats().dropped == {"too_large": 2}
    assert caplog.text.count("too_large") == 1
    assert client.capture("small", distinct_id="u") is not None


def test_ai_events_have_their_own_larger_cap() -> None:
    client = offline()
    assert client.capture_ai(
        "$ai_generation", distinct_id="u", properties={"$ai_input": "x" * (2 * 1024 * 1024)}
    )
    assert client.stats().dropped == {}
    assert len(client._lanes[1].items) == 1


def test_full_queue_drops_are_counted_reported_once_and_never_block(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drops: list[tuple[str, int]] = []
    client = offline(max_queue_size=10, on_drop=lambda r, n, _d: drops.append((r, n)))
    with caplog.at_level(logging.WARNING, logger="posthog"):
        results = [client.capture("e", distinct_id="u") for _ in range(25)]
    assert sum(r is not None for r in results) == 10
    assert client.stats().dropped == {"queue_full": 15}
    assert len(drops) == 15 and caplog.text.count("queue_full") == 1


def test_before_send_can_modify_or_drop() -> None:
    def hook(msg: dict[str, Any]) -> dict[str, Any] | None:
        if msg["event"] == "secret":
            return None
        msg["properties"]["added"] = True
        msg["properties"]["$lib"] = "custom"
        return msg

    client = offline(before_send=hook)
    assert client.capture("secret", distinct_id="u") is None
    ident = client.capture("public", distinct_id="u", properties={"a": 1})
    [event] = queued_events(client)
    assert event["uuid"] == ident
    assert event["properties"]["added"] is True and event["properties"]["$lib"] == "custom"
    assert event["properties"]["$os"]
    assert client.stats().dropped == {"before_send": 1}


def test_super_properties_override_everything_but_is_server() -> None:
    client = offline(super_properties={"app": "web", "$lib": "mine", "plan": "super"})
    client.capture("e", distinct_id="u", properties={"plan": "caller", "$is_server": False})
    [event] = queued_events(client)
    p = event["properties"]
    assert (p["app"], p["$lib"], p["plan"], p["$is_server"]) == ("web", "mine", "super", True)
    assert list(p).count("plan") == 1


def test_personless_event_without_any_distinct_id() -> None:
    client = offline()
    client.capture("anonymous thing")
    [event] = queued_events(client)
    assert event["properties"]["$process_person_profile"] is False
    assert uuid.UUID(event["distinct_id"])


def test_timestamps_and_uuids_are_normalised() -> None:
    client = offline()
    client.capture("e", distinct_id="u", timestamp="2026-01-02T03:04:05Z", uuid="not-a-uuid")
    client.capture(
        "e",
        distinct_id="u",
        timestamp=dt.datetime(2026, 1, 2, 5, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    )
    first, second = queued_events(client)
    assert first["timestamp"] == "2026-01-02T03:04:05+00:00"
    assert uuid.UUID(first["uuid"]).version == 4
    assert second["timestamp"] == "2026-01-02T03:04:05+00:00"


def test_disabled_client_sends_nothing_and_can_be_toggled() -> None:
    transport = MockTransport()
    client = Posthog("phc", host="http://127.0.0.1:9", transport=transport, flush_interval=0.01)
    client.disabled = True
    assert client.capture("e", distinct_id="u") is None
    client.disabled = False
    assert client.capture("e", distinct_id="u") is not None
    assert client.flush(5)
    assert len(transport.requests) == 1
    client.shutdown()


def test_send_false_returns_uuid_without_sending() -> None:
    transport = MockTransport()
    client = Posthog("phc", host="http://127.0.0.1:9", transport=transport, send=False)
    assert client.capture("e", distinct_id="u") is not None
    client.flush(1)
    assert transport.requests == []


def test_sync_mode_sends_in_the_callers_thread_with_retries() -> None:
    calls: list[Request] = []

    def handler(request: Request) -> Response:
        calls.append(request)
        return Response(503 if len(calls) == 1 else 200, {}, b"{}")

    client = Posthog(
        "phc", host="http://127.0.0.1:9", transport=MockTransport(handler), sync_mode=True
    )
    ident = client.capture("e", distinct_id="u")
    assert ident is not None and len(calls) == 2
    assert json.loads(calls[1].body or b"")["batch"][0]["uuid"] == ident
    assert client.stats().sent == 1


def test_after_shutdown_events_are_refused_and_counted() -> None:
    client = Posthog("phc", host="http://127.0.0.1:9", transport=MockTransport())
    client.shutdown()
    assert client.capture("late", distinct_id="u") is None
    assert client.stats().dropped == {"shutdown": 1}
