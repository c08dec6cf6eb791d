"""Ingestion: every message type and body form is stored as sent, once, per project."""

from __future__ import annotations

import json
import uuid
import zlib
from typing import Any

import pytest
from devserver_helpers import Http, event

from posthog_devserver import DevServer

CAPTURE_PATHS = ["/batch/", "/capture/", "/e/", "/i/v0/e/", "/track/", "/i/v0/ai/batch/", "/batch"]

# The SDK's v0 message shapes (spec 3.2), one per message type.
MESSAGES: list[dict[str, Any]] = [
    event("order completed", "u1", properties={"amount": 1.5, "$groups": {"company": "c1"}}),
    event("$set", "u1", **{"$set": {"a": 1}}),
    event("$set_once", "u1", **{"$set_once": {"first": "x"}}),
    event("$create_alias", "anon-1", properties={"distinct_id": "anon-1", "alias": "u1"}),
    event(
        "$groupidentify",
        "u1",
        properties={"$group_type": "company", "$group_key": "c1", "$group_set": {"name": "X"}},
    ),
    event("$identify", "u1", properties={"$anon_distinct_id": "anon-2", "$set": {"e": "x@y"}}),
    event(
        "$exception",
        "u1",
        properties={"$exception_level": "error", "$exception_list": [{"type": "ValueError"}]},
    ),
    event(
        "$feature_flag_called",
        "u1",
        properties={"$feature_flag": "beta", "locally_evaluated": True},
    ),
    event("$ai_generation", "u1", properties={"$ai_model": "m", "$ai_input_tokens": 3}),
]


def test_every_message_type_is_stored_as_sent(http: Http) -> None:
    assert http.batch(MESSAGES).json() == {"status": 1}
    stored = {e["uuid"]: e for e in http.events(project="phc_test")}
    assert len(stored) == len(MESSAGES)
    for message in MESSAGES:
        row = stored[message["uuid"]]
        assert row["message"] == message
        assert (row["event"], row["distinct_id"]) == (message["event"], message["distinct_id"])
        assert row["properties"] == message["properties"]
        assert row["timestamp"] == "2026-01-02T03:04:05+00:00"


@pytest.mark.parametrize("path", CAPTURE_PATHS)
@pytest.mark.parametrize("compress", [False, True])
def test_capture_paths_accept_batches_and_gzip(http: Http, path: str, compress: bool) -> None:
    batch = [event("a", "d1"), event("b", "d2")]
    reply = http.post_json(path, {"api_key": "phc_test", "batch": batch}, compress=compress)
    assert (reply.status, reply.json()) == (200, {"status": 1})
    assert [e["event"] for e in http.events()] == ["b", "a"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"api_key": "phc_test", **event("single")}, id="single-event"),
        pytest.param([{**event("single"), "api_key": "phc_test"}], id="bare-list"),
        pytest.param({"token": "phc_test", "batch": [event("single")]}, id="token-key"),
        pytest.param(
            {"batch": [{**event("single"), "properties": {"token": "phc_test"}}]}, id="props-token"
        ),
    ],
)
def test_body_forms(http: Http, body: Any) -> None:
    assert http.post_json("/capture/", body).status == 200
    assert [e["event"] for e in http.events(project="phc_test")] == ["single"]


def test_query_and_form_bodies(http: Http) -> None:
    data = json.dumps({"api_key": "phc_test", **event("form")})
    reply = http.request(
        "POST",
        "/e/",
        f"data={data}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 200, reply.body
    assert http.post_json("/i/v0/e/?token=phc_test", event("q")).status == 200
    assert {e["event"] for e in http.events(project="phc_test")} == {"form", "q"}


def test_missing_uuid_and_timestamp_are_filled_in(http: Http) -> None:
    http.batch([{"event": "bare", "distinct_id": 42}])
    [row] = http.events()
    assert uuid.UUID(row["uuid"]) and row["distinct_id"] == "42"
    assert row["timestamp"].endswith("+00:00")


def test_retried_batches_store_nothing_twice(http: Http) -> None:
    batch = [event(str(i), properties={"$set": {"n": i}}) for i in range(50)]
    for _ in range(3):
        assert http.batch(batch).status == 200
    assert http.batch([*batch[:10], event("new")]).status == 200
    rows = http.get_json("/api/events", limit=1000)["results"]
    assert len(rows) == 51
    assert http.get_json("/api/stats")["events"] == 51
    # a duplicate inside one batch is stored once as well
    dup = event("dup")
    http.batch([dup, dup])
    assert len(http.events(event="dup")) == 1


def test_large_batches_are_stored_once(http: Http) -> None:
    batch = [event(f"e{i}", f"user-{i % 7}") for i in range(250)]
    batch[180] = batch[20]  # a duplicate in another hundred of the batch
    assert http.batch(batch).status == 200
    assert http.get_json("/api/stats")["events"] == 249
    assert http.batch(batch).status == 200  # retried whole
    assert http.get_json("/api/stats")["events"] == 249
    stored = {e["uuid"]: e["event"] for e in http.get_json("/api/events", limit=1000)["results"]}
    assert stored == {e["uuid"]: e["event"] for e in batch}


# Around the limits of 64-bit integers and doubles, where JSON libraries differ.
NUMBERS: list[int | float] = [
    0,
    -1,
    10**18 - 1,
    2**63 - 1,
    -(2**63),
    2**63,
    2**64,
    2**70,
    -(2**70),
    0.1,
    1e16,
    1.5e300,
    5e-324,
    123456789.123456789,
]


@pytest.mark.parametrize("value", NUMBERS, ids=repr)
def test_numbers_are_stored_exactly(http: Http, value: float) -> None:
    message = event(properties={"n": value, "nested": {"list": [value, "x"]}})
    assert http.batch([message, event("other")]).status == 200
    [row] = http.events(event=message["event"])
    assert row["message"] == message
    assert type(row["message"]["properties"]["n"]) is type(value)


def test_each_key_is_its_own_project(http: Http) -> None:
    http.batch([event("a", "same", properties={"$set": {"p": "A"}})], api_key="phc_a")
    http.batch([event("b", "same", properties={"$set": {"p": "B"}})], api_key="phc_b")
    one = event("c")
    http.batch([one], api_key="phc_a")
    http.batch([one], api_key="phc_b")  # same uuid, other project: stored there too
    assert {e["event"] for e in http.events(project="phc_a")} == {"a", "c"}
    assert {e["event"] for e in http.events(project="phc_b")} == {"b", "c"}
    assert len(http.events()) == 4  # unfiltered: every project
    assert http.person("same", "phc_a")["properties"] == {"p": "A"}
    assert http.person("same", "phc_b")["properties"] == {"p": "B"}
    stats = http.get_json("/api/stats")
    assert [(p["project"], p["events"], p["persons"]) for p in stats["projects"]] == [
        ("phc_a", 2, 2),
        ("phc_b", 2, 2),
    ]


def test_configured_project_key_is_required() -> None:
    with DevServer(project_api_key="phc_right") as server:
        http = Http(server.url)
        wrong = http.batch([event()], api_key="phc_wrong")
        assert wrong.status == 401 and wrong.json()["code"] == "invalid_api_key"
        assert http.batch([event()], api_key="phc_right").status == 200
        assert len(http.events()) == 1
        http.close()


def test_capture_v1(http: Http) -> None:
    items = [
        {
            "event": "v1 event",
            "uuid": str(uuid.uuid4()),
            "distinct_id": "v1-user",
            "timestamp": "2026-01-02T03:04:05Z",
            "options": {"process_person_profile": False},
            "properties": {"x": 1},
            "session_id": "s1",
        },
        {
            "event": "$set",
            "uuid": str(uuid.uuid4()),
            "distinct_id": "v1-person",
            "timestamp": "2026-01-02T03:04:05Z",
            "options": {},
            "properties": {"$set": {"plan": "pro"}},
        },
    ]
    body = json.dumps({"created_at": "2026-01-02T03:04:06Z", "batch": items}).encode()
    headers = {"Authorization": "Bearer phc_v1", "Content-Type": "application/json"}
    for encoding, raw in (("deflate", zlib.compress(body)), ("gzip", None)):
        if raw is None:
            reply = http.post_json("/i/v1/analytics/events", json.loads(body), headers, True)
        else:
            reply = http.request(
                "POST", "/i/v1/analytics/events", raw, {**headers, "Content-Encoding": encoding}
            )
        assert reply.status == 200
        assert reply.json() == {"results": {i["uuid"]: {"result": "ok"} for i in items}}
    rows = {r["uuid"]: r for r in http.events(project="phc_v1")}
    assert len(rows) == 2 and rows[items[0]["uuid"]]["message"] == items[0]
    assert http.persons(distinct_id="v1-user") == []  # process_person_profile false
    assert http.person("v1-person", "phc_v1")["properties"] == {"plan": "pro"}
    missing = http.request(
        "POST", "/i/v1/analytics/events", body, {"Content-Type": "application/json"}
    )
    assert missing.status == 400 and missing.json()["code"] == "missing_api_key"


def test_query_api_filters_and_pages(http: Http) -> None:
    http.batch([event(f"e{i % 3}", f"d{i % 2}") for i in range(25)])
    assert len(http.events(event="e1")) == 8
    assert {e["distinct_id"] for e in http.events(distinct_id="d1")} == {"d1"}
    first = http.get_json("/api/events", limit=10)
    assert [e["id"] for e in first["results"]] == list(range(25, 15, -1))
    second = http.get_json(first["next"])
    assert [e["id"] for e in second["results"]] == list(range(15, 5, -1))
    assert [e["id"] for e in http.events(after=22)] == [25, 24, 23]
    persons = http.get_json("/api/persons", limit=1)
    assert len(persons["results"]) == 1 and persons["next"]
    assert len(http.get_json(persons["next"])["results"]) == 1
    assert http.get("/api/events", limit="x").status == 400
    assert http.get("/api/persons", id=999).status == 404
