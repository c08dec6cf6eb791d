"""Error and fatal Sentry events without an exception (``logging.error`` through Sentry's
logging integration, ``capture_message(level="error")``) become linked PostHog
``$exception`` events too, with one synthetic ``$exception_list`` entry."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_support import CapturingTransport, init_sentry

from posthog import Posthog
from posthog.sentry.posthog_integration import PostHogIntegration
from support.recording_server import RecordingServer

MECHANISM = {"type": "generic", "handled": True, "synthetic": True, "exception_id": 0}


@contextmanager
def logging_as(person: str, transport: CapturingTransport, client: Posthog) -> Iterator[None]:
    """Sentry, whose logging integration makes an event of each error logged, in a scope
    tagged with ``person``."""
    logs = LoggingIntegration(level=None, event_level=logging.ERROR)
    init_sentry(transport, [logs, PostHogIntegration(organization="orgname", client=client)])
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("posthog_distinct_id", person)
        yield


def test_error_messages_become_linked_posthog_exceptions(
    server: RecordingServer, sentry_events: CapturingTransport, client: Posthog
) -> None:
    with logging_as("u1", sentry_events, client):
        logging.getLogger("shop.payments").error("payment failed for order %s", 7)
        sentry_sdk.capture_message("quota exceeded", level="fatal")
        sentry_sdk.capture_message("disk almost full", level="warning")
        logging.getLogger("shop.payments").warning("retrying order %s", 7)
    assert client.flush(5)
    sentry = {e["event_id"]: e for e in sentry_events.events()}
    assert len(sentry) == 3  # the logged warning is only a breadcrumb
    ph_events = server.wait_for_events(2)
    assert len(server.events()) == 2
    by_level = {}
    for ph_event in ph_events:
        props = ph_event["properties"]
        assert ph_event["event"] == "$exception" and ph_event["distinct_id"] == "u1"
        sentry_event = sentry.pop(props["$sentry_event_id"])
        assert props["$sentry_url"] == (
            "https://sentry.io/organizations/orgname/issues/"
            f"?project=42&query={sentry_event['event_id']}"
        )
        assert sentry_event["tags"]["PostHog URL"] == f"{server.url}/person/u1"
        assert "$sentry_exception" not in props
        by_level[props["$exception_level"]] = props
    [(_, warning)] = sentry.items()
    assert warning["level"] == "warning" and "PostHog URL" not in warning["tags"]

    logged = by_level["error"]
    [entry] = logged["$exception_list"]
    assert entry == {
        "type": "shop.payments",
        "value": "payment failed for order 7",
        "module": None,
        "mechanism": MECHANISM,
    }
    assert logged["$sentry_exception_type"] == "shop.payments"
    assert logged["$sentry_exception_message"] == "payment failed for order 7"
    [entry] = by_level["fatal"]["$exception_list"]
    assert (entry["type"], entry["value"], entry["mechanism"]) == (
        "Error",
        "quota exceeded",
        MECHANISM,
    )


def test_logged_stack_becomes_the_entrys_frames_without_locals(
    server: RecordingServer, sentry_events: CapturingTransport, client: Posthog
) -> None:
    holder = "Ada Lovelace " + "7731"  # a local Sentry keeps (not on its denylist)
    with logging_as("u1", sentry_events, client):
        logging.getLogger("shop").error("cannot pay with %s", "visa", stack_info=True)
    assert client.flush(5)
    [sentry_event] = sentry_events.events()
    sentry_frames = sentry_event["threads"]["values"][0]["stacktrace"]["frames"]
    assert any(holder in str(f.get("vars")) for f in sentry_frames)
    [ph_event] = server.wait_for_events(1)
    [entry] = ph_event["properties"]["$exception_list"]
    assert entry["value"] == "cannot pay with visa"
    frames = entry["stacktrace"]["frames"]
    assert [f["function"] for f in frames] == [f["function"] for f in sentry_frames]
    assert frames[-1]["lineno"] == sentry_frames[-1]["lineno"]
    assert all(f["platform"] == "python" and "vars" not in f for f in frames)
    assert holder not in str(ph_event)


def test_posthogs_own_errors_are_not_sent_back_to_posthog(
    server: RecordingServer, sentry_events: CapturingTransport, client: Posthog
) -> None:
    """The SDK's own error logs (a failing delivery) would otherwise feed themselves."""
    with logging_as("u1", sentry_events, client):
        logging.getLogger("posthog").error("[PostHog] could not send a batch")
        logging.getLogger("app").error("the application's own error")
    assert client.flush(5)
    assert len(sentry_events.events()) == 2
    [ph_event] = server.wait_for_events(1)
    assert ph_event["properties"]["$exception_list"][0]["value"] == "the application's own error"
