"""The SDK against the dev server: a real ``Posthog`` client and its real HTTP transport,
the server on port 0, checked through the server's query API.

The client's transport is the real ``HTTPTransport`` behind the public ``transport=``
seam (``MockTransport`` with the real one as its handler), so the test also sees the
bytes the SDK sent and can compare them with what the server stored.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from devserver_helpers import Http

from posthog import HTTPTransport, MockTransport, Posthog
from posthog_devserver import DevServer

KEY = "phc_sdk_integration"


class Sdk:
    """A client of the server under test, and the capture bodies it sent."""

    def __init__(self, url: str, compress: bool) -> None:
        self.compress = compress
        self.real = HTTPTransport()
        self.wire = MockTransport(self.real.request)
        self.client = Posthog(KEY, host=url, gzip=compress, transport=self.wire)

    def sent(self) -> list[dict[str, Any]]:
        """Every event the SDK posted, checking each body is gzipped exactly when asked."""
        found = []
        for request in self.wire.requests:
            if "/flags" in request.url or request.body is None:
                continue
            zipped = request.headers.get("Content-Encoding") == "gzip"
            assert zipped == self.compress, request.headers
            body = json.loads(gzip.decompress(request.body) if zipped else request.body)
            assert body["api_key"] == KEY
            found += body["batch"]
        return found

    def close(self) -> None:
        self.client.shutdown()
        self.real.close()


def drive(client: Posthog) -> None:
    """Every message type through the documented calls, then a flush."""
    # an anonymous visitor, then the same person signing up (both capture styles)
    client.capture(
        "movie played",
        distinct_id="anon-1",
        properties={
            "title": "Up",
            "$set": {"plan": "free", "ref": "ad"},
            "$set_once": {"first_seen": "anon"},
        },
    )
    client.capture(
        "user-1", "signed up", {"$set": {"plan": "pro"}, "$set_once": {"first_seen": "user"}}
    )
    client.identify("user-1", {"email": "u1@example.com"})
    client.set(distinct_id="user-1", properties={"plan": "pro"})
    client.set_once(distinct_id="user-1", properties={"first_seen": "later", "signup": "web"})
    # the browser's anonymous id merged in, then a device aliased to the user
    client.capture("$identify", distinct_id="user-1", properties={"$anon_distinct_id": "anon-1"})
    client.capture("app opened", distinct_id="device-7", properties={"$set": {"os": "linux"}})
    client.capture("app used", distinct_id="device-7", properties={"$set_once": {"signup": "app"}})
    client.alias("user-1", "device-7")
    client.group_identify("company", "acme", {"name": "Acme", "size": 20})
    client.capture("report viewed", distinct_id="user-1", groups={"company": "acme"})
    client.capture(
        "$pageview", distinct_id="user-1", properties={"$current_url": "https://a.test/"}
    )
    client.page("user-1", "https://a.test/pricing")
    try:
        raise ValueError("boom")
    except ValueError as exc:
        client.capture_exception(exc, distinct_id="user-1")
    client.capture("anonymous ping")  # no distinct id: a personless event
    assert client.flush(10)


@pytest.fixture(params=[False, True], ids=["plain", "gzip"])
def sdk(request: pytest.FixtureRequest, dev: DevServer) -> Iterator[Sdk]:
    sdk = Sdk(dev.url, request.param)
    try:
        drive(sdk.client)
        yield sdk
    finally:
        sdk.close()


def test_every_message_type_is_stored_as_sent(sdk: Sdk, http: Http) -> None:
    sent = sdk.sent()
    stored = {e["uuid"]: e["message"] for e in http.events(project=KEY, limit=1000)}
    assert stored == {message["uuid"]: message for message in sent}
    assert sorted(m["event"] for m in stored.values()) == sorted(
        [
            "movie played",
            "signed up",
            "$identify",
            "$set",
            "$set_once",
            "$identify",
            "app opened",
            "app used",
            "$create_alias",
            "$groupidentify",
            "report viewed",
            "$pageview",
            "$pageview",
            "$exception",
            "anonymous ping",
        ]
    )
    stats = sdk.client.stats()
    assert (stats.sent, stats.dropped_total, stats.failed_batches) == (len(sent), 0, 0)


def test_persons_are_merged_by_identify_and_alias_with_set_once_semantics(
    sdk: Sdk, http: Http
) -> None:
    person = http.person("user-1", project=KEY)
    assert http.person("anon-1", project=KEY) == person == http.person("device-7", project=KEY)
    assert sorted(person["distinct_ids"]) == ["anon-1", "device-7", "user-1"]
    assert person["is_identified"] is True
    assert person["properties"] == {
        "plan": "pro",  # $set overwrites; the identified person's value wins a merge
        "first_seen": "user",  # $set_once keeps the first value it set
        "email": "u1@example.com",
        "signup": "web",  # merges fill gaps only: not the device's "app"
        "ref": "ad",  # from the anonymous visitor
        "os": "linux",  # from the aliased device
    }
    assert len(http.persons(project=KEY)) == 1
    # events of every merged id belong to the person
    ids = {e["distinct_id"] for e in http.events(person_id=person["id"], limit=1000)}
    assert ids == {"anon-1", "user-1", "device-7"}


def test_groups_are_stored_and_personless_events_make_no_person(sdk: Sdk, http: Http) -> None:
    [group] = http.get_json("/api/groups", project=KEY)["results"]
    assert (group["group_type"], group["group_type_index"], group["group_key"]) == (
        "company",
        0,
        "acme",
    )
    assert group["properties"] == {"name": "Acme", "size": 20}
    [viewed] = http.events(project=KEY, event="report viewed")
    assert viewed["properties"]["$groups"] == {"company": "acme"}

    [ping] = http.events(project=KEY, event="anonymous ping")
    assert ping["properties"]["$process_person_profile"] is False
    assert http.persons(project=KEY, distinct_id=ping["distinct_id"]) == []
    [ident] = http.events(project=KEY, event="$groupidentify")
    assert http.persons(project=KEY, distinct_id=ident["distinct_id"]) == []
