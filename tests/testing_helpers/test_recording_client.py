"""The helpers themselves: real message path, useful failures, flag semantics."""

from __future__ import annotations

from typing import Any

import pytest

import posthog
from posthog.testing import RecordingClient, recording, use_as_default


def test_events_go_through_the_real_message_path() -> None:
    def tag_everything(msg: dict[str, Any]) -> dict[str, Any]:
        msg["properties"]["via_before_send"] = True
        return msg

    client = RecordingClient(super_properties={"app": "shop"}, before_send=tag_everything)
    ident = client.capture("distinct id", "movie played", {"movie_id": "123"})  # classic style
    [event] = client.events
    assert event.uuid == ident and event.event == "movie played"
    assert event.distinct_id == "distinct id"
    assert event.properties["movie_id"] == "123"
    assert event.properties["app"] == "shop" and event.properties["via_before_send"] is True
    assert event.properties["$lib"] == "hogwire"
    assert event.timestamp is not None
    client.shutdown()


def test_context_identity_and_tags_apply() -> None:
    with recording() as ph, posthog.new_context():
        posthog.identify_context("ctx-user")
        posthog.tag("request_id", "r1")
        posthog.capture("clicked")
        assert posthog.feature_enabled("missing") is None
    event = ph.assert_captured("clicked", distinct_id="ctx-user", properties={"request_id": "r1"})
    assert event.properties["$context_tags"] == ["request_id"]
    assert ph.flag_calls[0].distinct_id == "ctx-user"


def test_assertion_failure_lists_what_was_captured() -> None:
    client = RecordingClient()
    client.capture("signed up", distinct_id="u1", properties={"plan": "free"})
    with pytest.raises(AssertionError) as info:
        client.assert_captured("signed up", distinct_id="u1", properties={"plan": "pro"})
    message = str(info.value)
    assert "expected 'signed up' for 'u1' with {'plan': 'pro'}" in message
    assert "'signed up' distinct_id='u1' properties={'plan': 'free'}" in message
    with pytest.raises(AssertionError, match="captured 1 time"):
        client.assert_not_captured("signed up")
    client.assert_not_captured("logged out")
    with pytest.raises(AssertionError, match="2 time\\(s\\), found 1"):
        client.assert_captured("signed up", count=2)
    client.shutdown()


def test_flag_reads_and_payloads() -> None:
    client = RecordingClient()
    client.override_flag("theme", "dark", payload={"accent": "#f00"})
    client.override_flags({"beta": True, "legacy": False})
    assert client.get_feature_flag("theme", "u1") == "dark"
    assert client.feature_enabled("theme", "u1") is True
    assert client.feature_enabled("legacy", "u1") is False
    assert client.get_feature_flag("nope", "u1") is None
    assert client.get_feature_flag_payload("theme", "u1") == {"accent": "#f00"}
    assert client.get_feature_flag_payload("theme", "u1", match_value="light") is None
    result = client.get_feature_flag_result("theme", "u1")
    assert (result.key, result.enabled, result.variant) == ("theme", True, "dark")
    assert result.payload == {"accent": "#f00"} and result.get_value() == "dark"
    missing = client.get_feature_flag_result("nope", "u1")
    assert (missing.error, missing.get_value()) == ("flag_missing", None)  # as a real client
    assert client.get_all_flags("u1") == {"theme": "dark", "beta": True, "legacy": False}
    assert client.get_all_flags_and_payloads("u1")["featureFlagPayloads"] == {
        "theme": '{"accent": "#f00"}'
    }
    assert [c.key for c in client.flag_calls][:3] == ["theme", "theme", "legacy"]
    client.clear_flag_overrides("theme")
    assert client.get_feature_flag("theme", "u1") is None
    client.clear_flag_overrides()
    assert client.get_all_flags("u1") == {}
    assert client.events == []  # flag reads are recorded in flag_calls, not as events
    client.shutdown()


def test_disabled_recording_client_captures_and_flags_nothing() -> None:
    client = RecordingClient(disabled=True)
    client.override_flag("beta", True)
    assert client.capture("e", distinct_id="u") is None
    assert client.feature_enabled("beta", "u") is None
    assert client.events == []
    client.shutdown()


def test_use_as_default_restores_previous_default() -> None:
    first, second = RecordingClient(), RecordingClient()
    with use_as_default(first):
        with use_as_default(second):
            posthog.capture("inner", distinct_id="u")
        posthog.capture("outer", distinct_id="u")
    assert [e.event for e in first.events] == ["outer"]
    assert [e.event for e in second.events] == ["inner"]
    assert posthog.default_client is None
    first.clear()
    assert first.events == [] and first.flag_calls == []
    first.shutdown()
    second.shutdown()


def test_evaluate_flags_snapshot_from_overrides() -> None:
    client = RecordingClient()
    client.override_flag("beta", True)
    client.override_flag("theme", "dark", distinct_id="u1", payload={"accent": "#000"})
    snapshot = client.evaluate_flags("u1")
    assert snapshot.is_enabled("beta") is True
    assert snapshot.get_flag("theme") == "dark"
    assert snapshot.get_flag_payload("theme") == {"accent": "#000"}
    assert snapshot.is_enabled("missing", default_value=True) is True
    client.capture("page viewed", distinct_id="u1", flags=snapshot)
    event = client.assert_captured("page viewed", distinct_id="u1")
    assert event.properties["$feature/theme"] == "dark"
    assert event.properties["$active_feature_flags"] == ["beta", "theme"]
    assert [(c.key, c.value) for c in client.flag_calls] == [
        ("beta", True),
        ("theme", "dark"),
        ("missing", None),
    ]
    assert client.evaluate_flags("u2", flag_keys=["theme"]).keys == []
    client.shutdown()
