"""Arbitrary property values, oversized events and a full queue: clear outcomes, never a raise.

Everything here goes through the real transport to a loopback server, and the assertions
are on what that server received, parsed as strict JSON (no ``NaN`` literals).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import logging
import math
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest

from posthog import Posthog
from support.recording_server import Recorded, RecordingServer, Reply


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Point:
    x: int
    y: float


class Model(pydantic.BaseModel):
    name: str
    tags: list[str]


class Hostile:
    """Looks like a pydantic model, but converting it raises."""

    def model_dump(self) -> Any:
        raise RuntimeError("no")


def strict_loads(data: bytes) -> Any:
    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(data, parse_constant=reject)


def received(server: RecordingServer, path: str = "/batch/") -> list[dict[str, Any]]:
    """Events the server accepted at ``path``, each request body parsed as strict JSON."""
    return [
        event
        for r in list(server.requests)
        if r.path.startswith(path) and r.status == 200
        for event in strict_loads(r.body)["batch"]
    ]


Make = Callable[..., Posthog]


@pytest.fixture
def make(server: RecordingServer) -> Iterator[Make]:
    clients: list[Posthog] = []

    def build(**kw: Any) -> Posthog:
        client = Posthog("phc", host=server.url, flush_interval=0.05, **kw)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.shutdown()


def delivered(
    client: Posthog, server: RecordingServer, count: int, path: str = "/batch/"
) -> list[Any]:
    """What the server accepted, once ``count`` events are there (a bounded wait).

    The wait after ``flush()`` is deliberate: ``flush()`` can return while the worker is
    still turning a just-taken batch into bytes (seen with a 2 MB event), so its result
    alone does not mean the server has it yet.
    """
    assert client.flush(10)
    server.wait_for(lambda s: len(received(s, path)) >= count, 10)
    return received(server, path)


def test_special_values_are_serialised_sensibly(
    make: Make, server: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make()
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
        "level": Level.HIGH,
        "nan": math.nan,
        "inf": -math.inf,
        5: "int key",
        (1, 2): "tuple key",
        "cyclic": cyclic,
        "opaque": object(),
        "hostile": Hostile(),
    }
    with caplog.at_level(logging.WARNING, logger="posthog"):
        assert client.capture("values", distinct_id="u", properties=props) is not None
        [event] = delivered(client, server, 1)
    p = event["properties"]
    assert p["when"] == "2026-01-02T03:04:05+00:00" and p["day"] == "2026-01-02"
    assert p["price"] == 9.99 and p["id"] == "0b0f3c4e-7bd9-4e55-9b2f-0b6c5d1f3a11"
    assert p["set"] == [3] and p["tuple"] == [1, 2] and p["bytes"] == "café"
    assert p["point"] == {"x": 1, "y": 2.5} and p["model"] == {"name": "m", "tags": ["a"]}
    assert p["color"] == "red" and p["level"] == 3 and p["nan"] is None and p["inf"] is None
    assert p["5"] == "int key" and p["(1, 2)"] == "tuple key"
    assert p["cyclic"] == {"name": "loop", "self": None}
    assert p["opaque"] is None and p["hostile"] is None
    assert "cyclic reference" in caplog.text and "not JSON serialisable" in caplog.text
    assert "Hostile raised RuntimeError" in caplog.text


def test_caller_mutation_after_capture_does_not_change_the_event(
    make: Make, server: RecordingServer
) -> None:
    client = make()
    props: dict[str, Any] = {"items": [1]}
    client.capture("e", distinct_id="u", properties=props)
    props["items"].append(2)
    props["late"] = True
    [event] = delivered(client, server, 1)
    assert event["properties"]["items"] == [1] and "late" not in event["properties"]


def test_oversized_event_is_dropped_counted_and_logged_once(
    make: Make, server: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make()
    big = {"blob": "x" * (901 * 1024)}
    with caplog.at_level(logging.WARNING, logger="posthog"):
        assert client.capture("big", distinct_id="u", properties=big) is None
        assert client.capture("big", distinct_id="u", properties=big) is None
    assert client.stats().dropped == {"too_large": 2}
    assert caplog.text.count("too_large") == 1
    ident = client.capture("small", distinct_id="u")
    assert [(e["event"], e["uuid"]) for e in delivered(client, server, 1)] == [("small", ident)]


def test_ai_events_have_their_own_larger_cap(make: Make, server: RecordingServer) -> None:
    client = make()
    text = "x" * (2 * 1024 * 1024)
    ident = client.capture_ai("$ai_generation", distinct_id="u", properties={"$ai_input": text})
    assert ident is not None
    [event] = delivered(client, server, 1, "/i/v0/ai/batch/")
    assert event["uuid"] == ident and event["properties"]["$ai_input"] == text
    assert client.stats().dropped == {}


def test_full_queue_drops_are_counted_reported_once_and_never_block(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While the worker is stuck in a slow request, capture() keeps returning at once."""
    arrived, gate = threading.Event(), threading.Event()

    def responder(_request: Recorded) -> Reply:
        arrived.set()
        gate.wait(10)
        return Reply()

    drops: list[tuple[str, int]] = []
    with RecordingServer(responder) as server:
        client = Posthog(
            "phc",
            host=server.url,
            flush_at=1,
            max_queue_size=10,
            on_drop=lambda r, n, _d: drops.append((r, n)),
        )
        try:
            first = client.capture("first", distinct_id="u")
            assert arrived.wait(10)  # the worker is now inside the request, not draining
            with caplog.at_level(logging.WARNING, logger="posthog"):
                results = [client.capture("e", distinct_id="u") for _ in range(25)]
            gate.set()
            admitted = [r for r in results if r is not None]
            assert len(admitted) == 10
            assert client.stats().dropped == {"queue_full": 15}
            assert sum(n for _r, n in drops) == 15 and {r for r, _n in drops} == {"queue_full"}
            assert caplog.text.count("queue_full") == 1
            uuids = [e["uuid"] for e in delivered(client, server, 11)]
            assert sorted(uuids) == sorted([first, *admitted])
        finally:
            gate.set()
            client.shutdown()


def test_before_send_can_modify_or_drop(make: Make, server: RecordingServer) -> None:
    def hook(msg: dict[str, Any]) -> dict[str, Any] | None:
        if msg["event"] == "secret":
            return None
        msg["properties"]["added"] = True
        msg["properties"]["$lib"] = "custom"
        return msg

    client = make(before_send=hook)
    assert client.capture("secret", distinct_id="u") is None
    ident = client.capture("public", distinct_id="u", properties={"a": 1})
    [event] = delivered(client, server, 1)
    assert event["uuid"] == ident and event["event"] == "public"
    assert event["properties"]["added"] is True and event["properties"]["$lib"] == "custom"
    assert event["properties"]["$os"] and event["properties"]["a"] == 1
    assert client.stats().dropped == {"before_send": 1}


def test_super_properties_override_everything_but_is_server(
    make: Make, server: RecordingServer
) -> None:
    client = make(super_properties={"app": "web", "$lib": "mine", "plan": "super"})
    client.capture("e", distinct_id="u", properties={"plan": "caller", "$is_server": False})
    [event] = delivered(client, server, 1)
    [request] = server.requests
    assert request.body.count(b'"plan"') == 1  # one key on the wire, not two
    p = event["properties"]
    assert (p["app"], p["$lib"], p["plan"], p["$is_server"]) == ("web", "mine", "super", True)


def test_personless_event_without_any_distinct_id(make: Make, server: RecordingServer) -> None:
    client = make()
    client.capture("anonymous thing")
    [event] = delivered(client, server, 1)
    assert event["properties"]["$process_person_profile"] is False
    assert uuid.UUID(event["distinct_id"])


def test_timestamps_and_uuids_are_normalised(make: Make, server: RecordingServer) -> None:
    client = make()
    first_id = client.capture(
        "e", distinct_id="u", timestamp="2026-01-02T03:04:05Z", uuid="not-a-uuid"
    )
    given = uuid.UUID("0b0f3c4e-7bd9-4e55-9b2f-0b6c5d1f3a11")
    client.capture(
        "e",
        distinct_id="u",
        timestamp=dt.datetime(2026, 1, 2, 5, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        uuid=given,
    )
    first, second = delivered(client, server, 2)
    assert first["timestamp"] == "2026-01-02T03:04:05+00:00"
    assert first["uuid"] == first_id and uuid.UUID(first["uuid"]).version == 4
    assert second["timestamp"] == "2026-01-02T03:04:05+00:00"
    assert second["uuid"] == str(given)


def test_disabled_client_sends_nothing_and_can_be_toggled(
    make: Make, server: RecordingServer
) -> None:
    client = make()
    client.disabled = True
    assert client.capture("off", distinct_id="u") is None
    client.disabled = False
    assert client.capture("on", distinct_id="u") is not None
    assert [e["event"] for e in delivered(client, server, 1)] == ["on"]


def test_send_false_returns_uuid_without_sending(make: Make, server: RecordingServer) -> None:
    client = make(send=False)
    assert client.capture("e", distinct_id="u") is not None
    client.flush(1)
    client.shutdown()
    assert server.requests == []


def test_sync_mode_sends_in_the_callers_thread_with_retries() -> None:
    statuses = [503, 200]

    def responder(_request: Recorded) -> Reply:
        return Reply(statuses.pop(0) if statuses else 200)

    with RecordingServer(responder) as server:
        client = Posthog("phc", host=server.url, sync_mode=True)
        ident = client.capture("e", distinct_id="u")
        # no flush: the event is on the server when capture() returns
        assert ident is not None and [r.status for r in server.requests] == [503, 200]
        assert [e["uuid"] for e in received(server)] == [ident]
        assert client.stats().sent == 1
        client.shutdown()


def test_after_shutdown_events_are_refused_and_counted(make: Make, server: RecordingServer) -> None:
    client = make()
    client.shutdown()
    assert client.capture("late", distinct_id="u") is None
    assert client.stats().dropped == {"shutdown": 1}
    assert server.requests == []
