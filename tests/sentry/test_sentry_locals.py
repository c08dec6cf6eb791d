"""Frame locals never reach PostHog through Sentry: Sentry's ``vars`` are left out of
``$sentry_exception``; locals come only from our own capture, opt-in and masked by us."""

from __future__ import annotations

import json

import pytest
import sentry_sdk
from sentry_support import CapturingTransport, init_sentry

from posthog import Posthog
from posthog.sentry.posthog_integration import PostHogIntegration
from support.recording_server import RecordingServer


def charge(card: str) -> None:
    # Built at run time: the source lines around a frame are sent, and must not match.
    password = "hunter" + "2"  # noqa: F841 (Sentry's scrubber knows this name ...)
    api_token = "tok-SECRET-" + "0001"  # noqa: F841 (... and not this one)
    attempts = 3  # noqa: F841
    raise ValueError(f"card {card} declined")


@pytest.mark.parametrize("code_variables", [False, True], ids=["default", "code-variables"])
def test_sentry_frame_locals_are_not_sent_to_posthog(
    server: RecordingServer, sentry_events: CapturingTransport, code_variables: bool
) -> None:
    options = {"capture_exception_code_variables": code_variables}
    client = Posthog("phc", host=server.url, flush_interval=0.05, **options)
    init_sentry(sentry_events, [PostHogIntegration(organization="orgname", client=client)])
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("posthog_distinct_id", "u1")
        try:
            charge("4242")
        except ValueError:
            sentry_sdk.capture_exception()
    assert client.flush(5)
    [ph_event] = server.wait_for_events(1)
    [sentry_event] = sentry_events.events()
    [sentry_value] = sentry_event["exception"]["values"]
    sentry_frame = sentry_value["stacktrace"]["frames"][-1]
    assert sentry_frame["vars"]["password"] == "[Filtered]"  # Sentry scrubbed its own event
    assert "tok-SECRET-0001" in sentry_frame["vars"]["api_token"]

    raw = json.dumps(ph_event)
    assert "hunter2" not in raw and "tok-SECRET-0001" not in raw
    props = ph_event["properties"]
    [value] = props["$sentry_exception"]["values"]  # still the exception Sentry saw ...
    assert (value["type"], value["value"]) == ("ValueError", "card 4242 declined")
    assert value["mechanism"]["type"] == sentry_value["mechanism"]["type"]
    frame = value["stacktrace"]["frames"][-1]
    assert (frame["function"], frame["lineno"]) == ("charge", sentry_frame["lineno"])
    assert frame["abs_path"] == sentry_frame["abs_path"]
    assert all("vars" not in f for f in value["stacktrace"]["frames"])  # ... without locals
    assert "context_line" not in frame  # the code is in our $exception_list

    ours = props["$exception_list"][0]["stacktrace"]["frames"][-1]
    if code_variables:  # opted in: our capture, our masking
        assert ours["code_variables"]["attempts"] == 3
        assert ours["code_variables"]["card"] == "4242"
        assert ours["code_variables"]["password"] == "[redacted]"
        assert ours["code_variables"]["api_token"] == "[redacted]"
    else:
        assert "code_variables" not in ours
    client.shutdown()
