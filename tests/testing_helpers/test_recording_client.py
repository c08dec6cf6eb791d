"""The helpers themselves: real message path, useful failures, flag semantics."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import posthog
from posthog import Posthog
from posthog.testing import MemoryTransport, RecordingClient, recording, use_as_default


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
    # reads are exposures, deduplicated per (person, flag, value), as a real client sends
    exposures = client.captured("$feature_flag_called", distinct_id="u1")
    assert [e.properties["$feature_flag"] for e in exposures] == [
        "theme",
        "legacy",
        "nope",
        "theme",
    ]
    assert [e.event for e in client.events] == ["$feature_flag_called"] * 4
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
    exposures = client.captured("$feature_flag_called")
    assert [e.properties["$feature_flag"] for e in exposures] == ["beta", "theme", "missing"]
    assert exposures[1].properties["$feature_flag_payload"] == {"accent": "#000"}
    assert client.evaluate_flags("u2", flag_keys=["theme"]).keys == []
    client.shutdown()


def test_send_feature_flags_attaches_the_overrides() -> None:
    client = RecordingClient()
    client.override_flags({"beta": True, "legacy": False})
    client.override_flag("theme", "dark", distinct_id="u1")
    client.capture("viewed", distinct_id="u1", send_feature_flags=True)
    client.capture("viewed", distinct_id="u2", send_feature_flags=True)
    client.capture("filtered", distinct_id="u1", send_feature_flags={"flag_keys_filter": ["theme"]})
    client.capture("opted out", distinct_id="u1", send_feature_flags={"should_send": False})
    u1 = client.assert_captured("viewed", distinct_id="u1").properties
    assert (u1["$feature/beta"], u1["$feature/legacy"], u1["$feature/theme"]) == (
        True,
        False,
        "dark",
    )
    assert sorted(u1["$active_feature_flags"]) == ["beta", "theme"]
    u2 = client.assert_captured("viewed", distinct_id="u2").properties
    assert "$feature/theme" not in u2 and u2["$active_feature_flags"] == ["beta"]
    filtered = client.assert_captured("filtered").properties
    assert [k for k in filtered if k.startswith("$feature/")] == ["$feature/theme"]
    assert not any(k.startswith("$feature") for k in client.assert_captured("opted out").properties)
    assert client.captured("$feature_flag_called") == [] and client.flag_calls == []
    client.shutdown()


def test_send_feature_flags_uses_the_context_person() -> None:
    with recording() as ph, posthog.new_context():
        ph.override_flag("beta", True, distinct_id="ctx-user")
        posthog.identify_context("ctx-user")
        posthog.capture("clicked", send_feature_flags=True)
    assert ph.assert_captured("clicked", "ctx-user").properties["$feature/beta"] is True


def test_flag_read_without_a_person_is_none_as_in_production() -> None:
    client = RecordingClient()
    client.override_flag("beta", True)  # for everyone, but there is nobody to evaluate for
    assert client.feature_enabled("beta") is None
    assert client.get_feature_flag_result("beta").error == "missing_distinct_id"
    assert client.get_all_flags() is None
    assert client.evaluate_flags().keys == []
    assert client.events == []
    client.shutdown()


def test_unknown_flag_option_behaves_as_in_production() -> None:
    client = RecordingClient()
    client.override_flag("beta", True)
    assert client.feature_enabled("beta", "u1", person_propertes={"plan": "pro"}) is None
    assert client.get_all_flags("u1", gruops={}) is None
    debug = RecordingClient(debug=True)
    with pytest.raises(TypeError, match="person_propertes"):
        debug.feature_enabled("beta", "u1", person_propertes={})
    client.shutdown()
    debug.shutdown()


def test_exposure_options_and_clear() -> None:
    client = RecordingClient()
    client.override_flag("beta", True)
    assert client.feature_enabled("beta", "u1", send_feature_flag_events=False) is True
    assert client.get_feature_flag_payload("beta", "u1") is None  # payload reads never expose
    assert client.captured("$feature_flag_called") == []
    client.feature_enabled("beta", "u1", groups={"company": "acme"})
    exposure = client.assert_captured("$feature_flag_called", "u1", count=1)
    assert exposure.properties["$groups"] == {"company": "acme"}
    client.clear()
    client.feature_enabled("beta", "u1", groups={"company": "acme"})  # reported again
    client.assert_captured("$feature_flag_called", "u1", count=1)
    client.shutdown()


def test_recording_ignores_a_disabled_module_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(posthog, "disabled", True)  # e.g. an app's test settings
    with recording() as ph:
        posthog.capture("signed up", distinct_id="u1")
        assert posthog.feature_enabled("beta", "u1") is None
    ph.assert_captured("signed up", distinct_id="u1")
    assert posthog.disabled is True


def test_no_poller_thread_even_with_a_personal_api_key() -> None:
    before = set(threading.enumerate())
    client = RecordingClient(personal_api_key="phx_secret")
    client.load_feature_flags()
    # Threads other tests left behind may end meanwhile: only new threads count.
    started = [t.name for t in threading.enumerate() if t not in before]
    assert started == []
    client.shutdown()


def _flag(flag_id: int, key: str, rollout: int, variant: str | None = None) -> dict[str, Any]:
    filters: dict[str, Any] = {"groups": [{"properties": [], "rollout_percentage": rollout}]}
    if variant is not None:
        filters["multivariate"] = {"variants": [{"key": variant, "rollout_percentage": 100}]}
    return {"id": flag_id, "key": key, "active": True, "filters": filters}


def _flag_traffic(client: Posthog) -> list[tuple[str, dict[str, Any]]]:
    """What the app below sends, with the properties that speak about flags."""
    client.capture("viewed", distinct_id="u1", send_feature_flags=True)
    client.get_feature_flag("theme", "u1")
    snapshot = client.evaluate_flags("u1")
    snapshot.is_enabled("beta")
    client.capture("searched", distinct_id="u1", flags=snapshot)
    client.flush()
    messages = client.transport.messages  # type: ignore[attr-defined]
    return [
        (m["event"], {k: v for k, v in m["properties"].items() if k.startswith("$feature")})
        for m in messages
    ]


def test_overrides_look_like_the_same_flags_evaluated_for_real() -> None:
    definitions = {
        "flags": [_flag(1, "beta", 100), _flag(2, "legacy", 0), _flag(3, "theme", 100, "dark")],
        "group_type_mapping": {},
        "cohorts": {},
    }
    real = Posthog(
        "phc_real",
        host="https://posthog.test",
        sync_mode=True,
        gzip=False,
        capture_mode="v0",
        transport=MemoryTransport(),
        flag_definitions=definitions,
    )
    recording_client = RecordingClient()
    recording_client.override_flags({"beta": True, "legacy": False, "theme": "dark"})
    why = ("$feature_flag_reason", "$feature_flag_reason_code", "$feature_flag_condition_index")
    expected = [
        (event, {k: v for k, v in props.items() if k not in why and k != "$feature_flag_id"})
        for event, props in _flag_traffic(real)
    ]
    got = [
        (event, {k: v for k, v in props.items() if k not in why})
        for event, props in _flag_traffic(recording_client)
    ]
    assert got == expected
    assert [e for e, _ in got] == [
        "viewed",
        "$feature_flag_called",
        "$feature_flag_called",
        "searched",
    ]
    real.shutdown()
    recording_client.shutdown()
