"""Hypothesis: arbitrary nested property values never make capture() raise, and what the
server receives is valid (strict) JSON holding the event.

One loopback server and one client serve every example; each example flushes and reads
only the requests that arrived since it started, so the whole run stays fast.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posthog import Posthog
from support.recording_server import RecordingServer


class Color(enum.Enum):
    RED = "red"
    NOTHING = None
    POINT = (1, 2)


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2**70  # beyond 64 bits


class Flag(enum.Flag):
    A = 1
    B = 2


@dataclasses.dataclass
class Box:
    content: Any
    label: str = "box"


class Model(pydantic.BaseModel):
    name: str
    value: Any = None


class Opaque:
    """An arbitrary object: no JSON form at all."""

    __slots__ = ()


class HostileIterable:
    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("cannot iterate")


class HostileModel:
    def model_dump(self) -> Any:
        raise RuntimeError("cannot dump")


class HostileStr:
    """``str()`` raises (``repr`` works, so Hypothesis can still report an example)."""

    def __str__(self) -> str:
        raise RuntimeError("cannot str")

    def __repr__(self) -> str:
        return "HostileStr()"


def _cyclic_list(items: list[Any]) -> list[Any]:
    items.append(items)
    return items


def _cyclic_dict(items: dict[str, Any]) -> dict[str, Any]:
    items["self"] = {"again": items}
    return items


def _cyclic_box(content: Any) -> Box:
    box = Box(content)
    box.content = [content, box]
    return box


objects = st.builds(Opaque) | st.builds(HostileIterable) | st.builds(HostileModel)
objects |= st.builds(HostileStr)
objects |= st.sampled_from(
    [
        object(),
        len,  # a function
        Opaque,  # a class
        ValueError("boom"),
        Color.RED,
        Color.NOTHING,
        Color.POINT,
        Level.LOW,
        Level.HIGH,
        Flag.A | Flag.B,
        ...,
        NotImplemented,
        1 + 2j,
    ]
)

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.binary(max_size=20)
    | st.datetimes()
    | st.dates()
    | st.timedeltas()
    | st.decimals()
    | st.uuids()
    | objects
)

keys = (
    st.text()
    | st.integers()
    | st.floats()
    | st.booleans()
    | st.none()
    | st.uuids()
    | st.tuples(st.integers())
    | st.sampled_from([Color.RED, Level.LOW])
    | st.builds(HostileStr)
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(children, max_size=4)
        | st.dictionaries(keys, children, max_size=4)
        | st.sets(st.integers() | st.text(max_size=3), max_size=3)
        | st.frozensets(st.integers(), max_size=3)
        | st.tuples(children, children)
        | st.builds(Box, children)
        | st.builds(Model, name=st.text(max_size=5), value=children)
        | st.lists(children, max_size=3).map(_cyclic_list)
        | st.dictionaries(st.text(max_size=3), children, max_size=3).map(_cyclic_dict)
        | children.map(_cyclic_box)
    )


values = st.recursive(leaves, _containers, max_leaves=20)


def strict_loads(data: bytes) -> Any:
    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(data, parse_constant=reject)


@pytest.fixture(scope="module")
def pipeline() -> Iterator[tuple[RecordingServer, Posthog]]:
    with RecordingServer() as server:
        client = Posthog("phc", host=server.url, flush_interval=0.05)
        yield server, client
        client.shutdown()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(props=st.dictionaries(keys, values, max_size=6))
def test_arbitrary_values_never_raise_and_the_server_gets_valid_json(
    pipeline: tuple[RecordingServer, Posthog], props: dict[Any, Any]
) -> None:
    server, client = pipeline
    seen = len(server.requests)
    logging.disable(logging.WARNING)  # the "dropped value" warnings are expected here
    try:
        ident = client.capture("fuzz", distinct_id="u", properties=props)
    finally:
        logging.disable(logging.NOTSET)
    assert ident is not None
    assert client.flush(10)
    # bounded wait: flush() can return while the worker is still encoding a taken batch
    server.wait_for(lambda s: any(ident.encode() in r.body for r in s.requests[seen:]), 10)
    bodies = [r.body for r in server.requests[seen:] if r.status == 200]
    events = [e for body in bodies for e in strict_loads(body)["batch"]]
    assert [(e["event"], e["uuid"]) for e in events] == [("fuzz", ident)]
    assert events[0]["properties"]["$lib"] == "hogwire"


def test_a_key_that_cannot_be_a_string_drops_only_its_entry(
    server: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = Posthog("phc", host=server.url, flush_interval=0.05)
    with caplog.at_level(logging.WARNING, logger="posthog"):
        ident = client.capture("key", distinct_id="u", properties={HostileStr(): 1, "kept": 2})
    assert ident is not None and client.flush(10)
    server.wait_for(lambda s: len(s.requests) >= 1, 10)
    [event] = [e for r in server.requests for e in strict_loads(r.body)["batch"]]
    assert event["properties"]["kept"] == 2 and "HostileStr key raised RuntimeError" in caplog.text
    client.shutdown()
