"""The wire shape of every message type, through the real transport to a real server."""

from __future__ import annotations

import gzip as gz
from typing import Any

import pytest

import posthog
from posthog import Posthog
from support.recording_server import RecordingServer


def make(server: RecordingServer, **kw: Any) -> Posthog:
    return Posthog("phc_test", host=server.url, flush_interval=0.05, **kw)


def test_capture_classic_style_positional(server: RecordingServer) -> None:
    client = make(server)
    ident = client.capture("distinct id", "movie played", {"movie_id": "123", "category": "romcom"})
    client.flush()
    [event] = server.wait_for_events(1)
    assert event["uuid"] == ident
    assert event["event"] == "movie played"
    assert event["distinct_id"] == "distinct id"
    props = event["properties"]
    assert props["movie_id"] == "123" and props["category"] == "romcom"
    assert props["$lib"] == "hogwire" and props["$is_server"] is True
    assert props["$geoip_disable"] is True
    assert list(event)[-1] == "properties"
    body = server.batches()[0]
    assert set(body) == {"batch", "historical_migration", "sent_at", "api_key"}
    assert body["api_key"] == "phc_test" and body["historical_migration"] is False
    client.shutdown()


def test_gzip_body_has_header_and_decodes(server: RecordingServer) -> None:
    client = make(server, gzip=True)
    client.capture("e", distinct_id="u")
    client.flush()
    server.wait_for_events(1)
    req = server.requests[0]
    assert req.headers["content-encoding"] == "gzip"
    assert gz.decompress(req.raw_body) == req.body
    client.shutdown()


@pytest.mark.parametrize("gzip", [False, True])
def test_every_message_type(server: RecordingServer, gzip: bool) -> None:
    client = make(server, gzip=gzip)
    client.capture("signed up", distinct_id="u1", groups={"company": "c1"})
    client.identify("u1", {"email": "a@example.com"})
    client.set(distinct_id="u1", properties={"plan": "pro"})
    client.set_once(distinct_id="u1", properties={"first_seen": "today"})
    client.alias("anon-1", "u1")
    client.group_identify("company", "c1", {"name": "Acme"})
    client.capture("distinct id", "$pageview", {"$current_url": "https://example.com/"})
    client.flush()
    events = {e["event"]: e for e in server.wait_for_events(7)}
    assert events["signed up"]["properties"]["$groups"] == {"company": "c1"}
    assert events["$identify"]["$set"] == {"email": "a@example.com"}
    assert events["$set"]["$set"] == {"plan": "pro"}
    assert events["$set_once"]["$set_once"] == {"first_seen": "today"}
    alias = events["$create_alias"]
    assert alias["distinct_id"] == "anon-1"
    assert alias["properties"]["alias"] == "u1" and alias["properties"]["distinct_id"] == "anon-1"
    group = events["$groupidentify"]["properties"]
    assert (group["$group_type"], group["$group_key"], group["$group_set"]) == (
        "company",
        "c1",
        {"name": "Acme"},
    )
    assert events["$pageview"]["properties"]["$current_url"] == "https://example.com/"
    # identity events carry $lib but not the system context
    assert "$os" not in events["$set"]["properties"]
    assert "$os" in events["signed up"]["properties"]
    client.shutdown()


def test_module_level_both_styles(server: RecordingServer) -> None:
    posthog.project_api_key = "phc_mod"
    posthog.host = server.url
    posthog.capture("distinct id", "movie played", {"movie_id": "1"})
    posthog.capture("distinct id", event="movie played", properties={"movie_id": "2"})
    posthog.capture("movie played", distinct_id="distinct id", properties={"movie_id": "3"})
    posthog.flush()
    events = server.wait_for_events(3)
    assert sorted(e["properties"]["movie_id"] for e in events) == ["1", "2", "3"]
    assert {e["distinct_id"] for e in events} == {"distinct id"}
