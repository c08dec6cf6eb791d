"""A PostHog ``$exception`` is made only for a Sentry event that Sentry sends, after the
application's ``before_send`` and error sampling, and from the event as ``before_send``
left it. A request error our framework integration handed to Sentry is still captured
once when Sentry drops it, unlinked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sentry_sdk
from django.test import Client as DjangoClient
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_support import CapturingTransport, init_sentry
from test_sentry_frameworks import django_settings, fastapi_get, headers_for

from posthog import Posthog
from posthog.sentry.posthog_integration import PostHogIntegration
from support.recording_server import RecordingServer

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def value_of(event: dict[str, Any], hint: dict[str, Any]) -> str:
    exc_info = hint.get("exc_info")
    if exc_info:
        return str(exc_info[1])
    return str(event.get("message") or (event.get("logentry") or {}).get("formatted"))


def drop_in_before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    return None if "drop me" in value_of(event, hint) else event


def sample_out(event: dict[str, Any], hint: dict[str, Any]) -> float:
    return 0.0 if "drop me" in value_of(event, hint) else 1.0


def report_as(person: str, *errors: str) -> None:
    """Sentry reports a ``ValueError`` for each text, for the person tagged on the scope."""
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("posthog_distinct_id", person)
        for text in errors:
            try:
                raise ValueError(text)
            except ValueError:
                sentry_sdk.capture_exception()


DROPPERS: dict[str, dict[str, Callable[..., Any]]] = {
    "before_send": {"before_send": drop_in_before_send},
    "sampling": {"error_sampler": sample_out},
}


@pytest.mark.parametrize("dropper", sorted(DROPPERS))
def test_event_sentry_drops_is_not_sent_to_posthog(
    server: RecordingServer, sentry_events: CapturingTransport, client: Posthog, dropper: str
) -> None:
    init_sentry(
        sentry_events,
        [PostHogIntegration(organization="orgname", client=client)],
        **DROPPERS[dropper],
    )
    report_as("u1", "drop me", "keep me")
    assert client.flush(5)
    [sentry_event] = sentry_events.events()
    [ph_event] = server.events()  # only the one Sentry sent: no link to a missing event
    props = ph_event["properties"]
    assert props["$sentry_event_id"] == sentry_event["event_id"]
    assert props["$sentry_exception_message"] == "keep me"
    assert props["$exception_list"][0]["value"] == "keep me"
    assert sentry_event["tags"]["PostHog URL"] == f"{server.url}/person/u1"


def scrub(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    event["tags"]["customer_email"] = "[scrubbed]"
    for value in event["exception"]["values"]:
        value["value"] = "[scrubbed]"
    return event


def test_posthog_gets_the_sentry_event_as_before_send_left_it(
    server: RecordingServer, sentry_events: CapturingTransport, client: Posthog
) -> None:
    init_sentry(
        sentry_events,
        [PostHogIntegration(organization="orgname", client=client)],
        before_send=scrub,
    )
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("customer_email", "ada@example.com")
        report_as("u1", "card of ada@example.com declined")
    assert client.flush(5)
    [sentry_event] = sentry_events.events()
    [ph_event] = server.wait_for_events(1)
    props = ph_event["properties"]
    assert sentry_event["exception"]["values"][0]["value"] == "[scrubbed]"
    assert props["$sentry_exception_message"] == "[scrubbed]"
    assert props["$sentry_exception"]["values"][0]["value"] == "[scrubbed]"
    assert props["$sentry_tags"]["customer_email"] == "[scrubbed]"
    assert props["$sentry_tags"]["PostHog URL"] == f"{server.url}/person/u1"
    assert sentry_event["tags"]["PostHog URL"] == f"{server.url}/person/u1"


def drop_all(event: dict[str, Any], hint: dict[str, Any]) -> None:
    return None


@pytest.mark.parametrize(
    "options",
    [{"before_send": drop_all}, {"sample_rate": 0.0}],
    ids=["before_send", "sample_rate"],
)
def test_request_error_sentry_drops_is_captured_unlinked(
    server: RecordingServer,
    sentry_events: CapturingTransport,
    client: Posthog,
    options: dict[str, Any],
) -> None:
    """Django reports inside our request; FastAPI's Sentry middleware outside it."""
    ours = PostHogIntegration(organization="orgname", client=client)
    init_sentry(sentry_events, [DjangoIntegration(), ours], **options)
    with django_settings(client):
        DjangoClient(raise_request_exception=False).get("/checkout/", headers={"X-User": "u-1"})
    sentry_sdk.get_client().close()
    starlette = [StarletteIntegration(), FastApiIntegration(), ours]
    init_sentry(sentry_events, starlette, **options)
    assert fastapi_get(client, headers_for("p-2")) == 500
    assert client.flush(5)
    assert sentry_events.events() == []
    events = server.events()
    assert sorted((e["distinct_id"], e["properties"]["$exception_source"]) for e in events) == [
        ("p-2", "asgi"),
        ("u-1", "django.middleware"),
    ]
    for event in events:
        assert event["event"] == "$exception"
        assert not any(name.startswith("$sentry") for name in event["properties"])


def test_without_a_dsn_sentry_sends_nothing_to_link_to(
    server: RecordingServer, sentry_events: CapturingTransport, client: Posthog
) -> None:
    ours = PostHogIntegration(organization="orgname", client=client)
    sentry_sdk.init(integrations=[DjangoIntegration(), ours], default_integrations=False)
    report_as("u1", "nowhere to go")
    with django_settings(client):
        DjangoClient(raise_request_exception=False).get("/checkout/", headers={"X-User": "u-1"})
    assert client.flush(5)
    [ph_event] = server.events()  # the request's error, captured as without Sentry
    assert ph_event["distinct_id"] == "u-1"
    assert ph_event["properties"]["$exception_source"] == "django.middleware"
    assert not any(name.startswith("$sentry") for name in ph_event["properties"])


def test_event_reported_while_sentry_decides_on_another_is_matched_to_its_own_fate(
    server: RecordingServer, sentry_events: CapturingTransport, client: Posthog
) -> None:
    """An application's ``before_send`` that reports (and keeps) an event of its own,
    then drops the one it was given: each outcome is that event's."""

    def report_then_drop(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        if "outer" not in value_of(event, hint):
            return event
        sentry_sdk.capture_message("inner, kept", level="error")
        return None

    ours = PostHogIntegration(organization="orgname", client=client)
    init_sentry(sentry_events, [ours], before_send=report_then_drop)
    report_as("u1", "outer, dropped", "after, kept")
    assert client.flush(5)
    sent = {e["event_id"]: e for e in sentry_events.events()}
    ph_events = server.events()
    assert len(sent) == 2 and len(ph_events) == 2
    for ph_event in ph_events:
        sentry_event = sent.pop(ph_event["properties"]["$sentry_event_id"])
        message = ph_event["properties"]["$exception_list"][0]["value"]
        assert message in ("inner, kept", "after, kept")
        assert sentry_event["tags"]["PostHog URL"] == f"{server.url}/person/u1"
