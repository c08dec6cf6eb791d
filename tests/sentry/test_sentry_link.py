"""Sentry errors become linked PostHog ``$exception`` events (documented integration),
with the real ``sentry_sdk`` and a loopback PostHog server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sentry_sdk
from sentry_support import CapturingTransport, init_sentry

import posthog
from posthog import Posthog
from posthog.sentry.posthog_integration import PostHogIntegration, posthog_person_url
from support.recording_server import RecordingServer


@pytest.fixture(autouse=True)
def organization() -> Iterator[None]:
    PostHogIntegration.organization = "orgname"  # the documented way to configure it
    yield
    PostHogIntegration.organization = None


def sentry_url(event_id: str) -> str:
    return f"https://sentry.io/organizations/orgname/issues/?project=42&query={event_id}"


def test_tagged_sentry_error_becomes_linked_posthog_exception(
    server: RecordingServer, sentry_events: CapturingTransport
) -> None:
    posthog.project_api_key = "phc_mod"  # the module-level default client is used
    posthog.host = server.url
    init_sentry(sentry_events, [PostHogIntegration()])
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("posthog_distinct_id", "some distinct id")
        try:
            raise ValueError("payment failed")
        except ValueError:
            sentry_sdk.capture_exception()
    posthog.flush()
    [ph_event] = server.wait_for_events(1)
    [sentry_event] = sentry_events.events()
    assert ph_event["event"] == "$exception"
    assert ph_event["distinct_id"] == "some distinct id"
    props = ph_event["properties"]
    assert props["$sentry_event_id"] == sentry_event["event_id"]
    assert props["$sentry_url"] == sentry_url(sentry_event["event_id"])
    assert props["$sentry_exception_type"] == "ValueError"
    assert props["$sentry_exception_message"] == "payment failed"
    assert props["$exception_list"][0]["value"] == "payment failed"
    assert sentry_event["tags"]["PostHog URL"] == f"{server.url}/person/some%20distinct%20id"


def test_untagged_errors_and_messages_are_left_alone(
    server: RecordingServer, sentry_events: CapturingTransport
) -> None:
    client = Posthog("phc", host=server.url, flush_interval=0.05)
    init_sentry(sentry_events, [PostHogIntegration(client=client)])
    try:
        raise KeyError("nobody")
    except KeyError:
        sentry_sdk.capture_exception()
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("posthog_distinct_id", "u1")
        sentry_sdk.capture_message("just info", level="info")
    client.flush()
    events = sentry_events.events()
    assert len(events) == 2
    assert all("PostHog URL" not in (e.get("tags") or {}) for e in events)
    assert server.events() == []
    assert client.stats().queued == 0
    client.shutdown()


def test_posthog_context_identity_is_used_when_no_tag(
    server: RecordingServer, sentry_events: CapturingTransport
) -> None:
    client = Posthog("phc", host=server.url, flush_interval=0.05)
    init_sentry(sentry_events, [PostHogIntegration(client=client, project_id="7")])
    with posthog.new_context():
        posthog.identify_context("ctx-user")
        try:
            raise RuntimeError("in context")
        except RuntimeError:
            sentry_sdk.capture_exception()
    client.flush()
    [ph_event] = server.wait_for_events(1)
    [sentry_event] = sentry_events.events()
    assert ph_event["distinct_id"] == "ctx-user"
    assert ph_event["properties"]["$sentry_url"].endswith(
        f"?project=7&query={sentry_event['event_id']}"
    )
    client.shutdown()


def test_sentry_error_already_captured_by_posthog_is_not_sent_twice(
    server: RecordingServer, sentry_events: CapturingTransport
) -> None:
    client = Posthog("phc", host=server.url, flush_interval=0.05)
    init_sentry(sentry_events, [PostHogIntegration(client=client)])
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("posthog_distinct_id", "u1")
        try:
            raise ValueError("twice?")
        except ValueError as exc:
            client.capture_exception(exc, distinct_id="u1")
            sentry_sdk.capture_exception(exc)
    client.flush()
    assert len(server.wait_for_events(1)) == 1
    [sentry_event] = sentry_events.events()
    assert sentry_event["tags"]["PostHog URL"].endswith("/person/u1")  # still linked
    client.shutdown()


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("https://us.i.posthog.com", "https://us.posthog.com/person/a%2Fb"),
        ("https://eu.i.posthog.com/", "https://eu.posthog.com/person/a%2Fb"),
        ("https://ph.example.com", "https://ph.example.com/person/a%2Fb"),
    ],
)
def test_person_url(host: str, url: str) -> None:
    assert posthog_person_url(host, "a/b") == url
