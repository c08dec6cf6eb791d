"""Remote ``/flags`` fallback against a real loopback server: body, shapes, faults, bounds."""

from __future__ import annotations

import json
import socket

import pytest
from flag_support import (
    PROJECT_KEY,
    SECRET,
    CountingTransport,
    backend,
    client,
    closed_port,
    cond,
    definitions,
    flag,
    flags_response,
    prop,
    v4_record,
)

from support.held import HeldReplies
from support.recording_server import Recorded, Reply


def test_body_and_path_of_a_single_flag_fallback() -> None:
    with backend() as b:
        b.flags_reply = lambda _r: Reply(200, flags_response(v4_record("beta", "test", {"x": 1})))
        c = client(b.url, send=False)
        value = c.get_feature_flag(
            "beta",
            "user-1",
            groups={"organisation": "google"},
            person_properties={"plan": "pro"},
            group_properties={"organisation": {"size": 5}},
        )
        assert value == "test"
        [req] = b.flag_calls()
        assert req.path == "/flags/?v=2"
        assert req.headers["content-type"] == "application/json"
        body = req.json()
        assert body["distinct_id"] == "user-1"
        assert body["groups"] == {"organisation": "google"}
        assert body["person_properties"] == {"plan": "pro"}  # no injected distinct_id remotely
        assert body["group_properties"] == {"organisation": {"$group_key": "google", "size": 5}}
        assert body["geoip_disable"] is True
        assert body["device_id"] is None
        assert body["flag_keys_to_evaluate"] == ["beta"]
        assert body["api_key"] == PROJECT_KEY
        assert "sent_at" in body


@pytest.mark.parametrize(
    ("record", "value", "payload"),
    [
        ({"key": "f", "enabled": True, "variant": None, "metadata": {"payload": "[1]"}}, True, [1]),
        ({"key": "f", "enabled": True, "variant": "b", "metadata": {}}, "b", None),
        ({"key": "f", "value": 12.5, "enabled": True, "metadata": {"payload": "1"}}, True, 12.5),
        ({"key": "f", "value": None, "enabled": False}, False, None),
        ({"key": "f", "value": {"a": 1}, "enabled": True}, True, {"a": 1}),
    ],
)
def test_v2_and_v4_record_shapes(record: dict, value: object, payload: object) -> None:
    with backend() as b:
        b.flags_reply = lambda _r: Reply(200, {"flags": {"f": record}})
        c = client(b.url, send=False)
        result = c.get_feature_flag_result("f", "u")
        assert result is not None
        assert result.get_value() == value
        assert result.payload == payload
        assert result.locally_evaluated is False


def test_legacy_decide_shape_is_understood() -> None:
    with backend() as b:
        b.flags_reply = lambda _r: Reply(
            200, {"featureFlags": {"f": "v1", "g": False}, "featureFlagPayloads": {"f": '{"k": 2}'}}
        )
        c = client(b.url, send=False)
        assert c.get_feature_flag("f", "u") == "v1"
        assert c.get_feature_flag_payload("f", "u") == {"k": 2}
        assert c.get_all_flags_and_payloads("u") == {
            "featureFlags": {"f": "v1", "g": False},
            "featureFlagPayloads": {"f": '{"k": 2}'},
        }


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            Reply(200, {"flags": {"f": {"key": "f", "failed": True, "enabled": False}}}),
            "evaluation_failed",
        ),
        (Reply(200, flags_response()), "flag_missing"),
        (Reply(200, "{not json"), "unknown_error"),
        (Reply(200, {"flags": {}, "quotaLimited": ["feature_flags"]}), "quota_limited"),
        (Reply(500, {"detail": "boom"}), "api_error_500"),
        (Reply(401, {"detail": "bad key"}), "api_error_401"),
    ],
)
def test_errors_become_none_with_a_reason_and_one_log_line(
    reply: Reply, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    with backend() as b:
        b.flags_reply = lambda _r: reply
        c = client(b.url, send=False)
        assert c.get_feature_flag("f", "u") is None
        assert c.feature_enabled("f", "u") is None
        result = c.get_feature_flag_result("f", "u")
        assert result is not None and result.get_value() is None and result.error == error
        assert len(b.flag_calls()) == 3  # none of these is retried
        lines = [r for r in caplog.records if r.name == "posthog" and error in r.getMessage()]
        assert len(lines) == 1  # three calls, one line per error kind per minute


def test_errors_while_computing_keeps_the_value_and_says_so() -> None:
    with backend() as b:
        b.flags_reply = lambda _r: Reply(
            200, flags_response(v4_record("f", True), errorsWhileComputingFlags=True)
        )
        c = client(b.url, send=False)
        result = c.get_feature_flag_result("f", "u")
        assert result is not None
        assert result.get_value() is True and result.error == "errors_while_computing_flags"


def test_one_retry_on_502_and_none_on_500() -> None:
    with backend() as b:
        answers = iter(
            [Reply(502, b"bad gateway"), Reply(200, flags_response(v4_record("f", True)))]
        )
        b.flags_reply = lambda _r: next(answers)
        c = client(b.url, send=False)
        assert c.get_feature_flag("f", "u") is True
        assert len(b.flag_calls()) == 2


def test_slow_server_returns_in_time_with_timeout_error() -> None:
    with backend() as b, HeldReplies(lambda _r: Reply(200, flags_response())) as hold:
        b.flags_reply = hold
        c = client(b.url, send=False, feature_flags_request_timeout_seconds=0.2)
        result = c.get_feature_flag_result("f", "u")
        assert result is not None and result.error == "timeout" and result.get_value() is None
        # the call (a timeout, the back-off, the retry's timeout) came back while the
        # server still held both requests: it never waited for an answer
        assert hold.wait_arrived(2)
        assert hold.still_held == 2 and b.flag_calls() == []


def test_server_down_returns_none_without_raising() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = client(f"http://127.0.0.1:{port}", send=False)
    result = c.get_feature_flag_result("f", "u")
    assert result is not None and result.error == "connection_error"
    assert c.get_all_flags("u") == {}
    snapshot = c.evaluate_flags("u")
    assert snapshot.error == "connection_error" and snapshot.keys == []


def test_a_refused_connection_is_not_retried_but_a_reset_one_is() -> None:
    transport = CountingTransport()
    url = f"http://127.0.0.1:{closed_port()}"
    c = client(url, send=False, transport=transport)
    result = c.get_feature_flag_result("f", "u")
    assert result is not None and result.get_value() is None
    assert result.error == "connection_error"
    assert [r.url for r in transport.requests] == [f"{url}/flags/?v=2"]  # one attempt only
    with backend() as b:
        answers = iter([Reply(reset=True), Reply(200, flags_response(v4_record("f", True)))])
        b.flags_reply = lambda _r: next(answers)
        c = client(b.url, send=False)
        assert c.get_feature_flag("f", "u") is True  # a reset connection gets its one retry
        assert len(b.flag_calls()) == 2


def test_experience_continuity_goes_remote() -> None:
    sticky = flag("sticky", cond(rollout=100), ensure_experience_continuity=True)
    with backend(definitions(sticky)) as b:
        b.flags_reply = lambda _r: Reply(200, flags_response(v4_record("sticky", "held")))
        c = client(b.url, send=False, secret_key=SECRET)
        result = c.get_feature_flag_result("sticky", "u")
        assert result is not None and result.get_value() == "held" and not result.locally_evaluated
        assert c.get_feature_flag("sticky", "u", only_evaluate_locally=True) is None
        assert len(b.flag_calls()) == 1


def test_get_all_flags_asks_the_server_once_for_only_the_undecided_flags() -> None:
    local = flag("local", cond(rollout=100))
    needs_prop = flag("needs-prop", cond(prop("plan", "pro")))
    sticky = flag("sticky", cond(rollout=100), ensure_experience_continuity=True)
    with backend(definitions(local, needs_prop, sticky)) as b:
        b.flags_reply = lambda _r: Reply(
            200, flags_response(v4_record("needs-prop", True), v4_record("sticky", "v"))
        )
        c = client(b.url, send=False, secret_key=SECRET)
        assert c.get_all_flags("u") == {"local": True, "needs-prop": True, "sticky": "v"}
        [req] = b.flag_calls()
        assert req.json()["flag_keys_to_evaluate"] == ["needs-prop", "sticky"]
        assert c.get_all_flags("u", only_evaluate_locally=True) == {"local": True}
        assert len(b.flag_calls()) == 1


def test_evaluate_flags_snapshot_attaches_to_capture_without_network() -> None:
    with backend() as b:
        defs = definitions(flag("on", cond(rollout=100)), flag("off", cond(rollout=0)))
        c = client(b.url, flag_definitions=defs)
        snapshot = c.evaluate_flags("u")
        assert snapshot.is_enabled("on") is True
        assert snapshot.get_flag("off", send_feature_flag_events=False) is False
        c.capture("purchase", distinct_id="u", flags=snapshot)
        c.capture("viewed", distinct_id="u", flags=snapshot.only_accessed())
        c.flush()
        [purchase] = b.events("purchase")
        assert purchase["properties"]["$feature/on"] is True
        assert purchase["properties"]["$feature/off"] is False
        assert purchase["properties"]["$active_feature_flags"] == ["on"]
        [viewed] = b.events("viewed")
        assert {k for k in viewed["properties"] if k.startswith("$feature/")} == {
            "$feature/on",
            "$feature/off",
        }
        assert b.flag_calls() == []


def test_capture_send_feature_flags_adds_flag_properties() -> None:
    with backend() as b:
        defs = definitions(flag("on", cond(rollout=100)), flag("off", cond(rollout=0)))
        c = client(b.url, flag_definitions=defs)
        c.capture("purchase", distinct_id="u", send_feature_flags=True)
        c.flush()
        [event] = b.events("purchase")
        assert event["properties"]["$feature/on"] is True
        assert event["properties"]["$feature/off"] is False
        assert event["properties"]["$active_feature_flags"] == ["on"]
        assert b.events("$feature_flag_called") == []


def test_capture_send_feature_flags_key_filter_reads_keys_as_strings() -> None:
    """The same query rules as a flag call: a numeric key in flag_keys_filter names the
    flag "2024" (it used to match nothing), and group properties are per group."""
    with backend() as b:
        defs = definitions(flag("2024", cond(rollout=100)), flag("other", cond(rollout=100)))
        c = client(b.url, flag_definitions=defs)
        c.capture("p", distinct_id="u", send_feature_flags={"flag_keys_filter": [2024]})
        c.flush()
        [event] = b.events("p")
        assert event["properties"]["$feature/2024"] is True
        assert "$feature/other" not in event["properties"]


def test_remote_config_payload() -> None:
    def respond(rec: Recorded) -> Reply:
        return Reply(200, {"theme": "dark"})

    with backend() as b:
        b.flags_reply = respond
        b.server.responder = lambda r: respond(r) if "remote_config" in r.path else b.respond(r)
        c = client(b.url, send=False, secret_key="phx_s", flag_definitions={"flags": []})
        assert c.get_remote_config_payload("cfg") == {"theme": "dark"}
        [req] = b.requests_to("/api/projects/@current/feature_flags/cfg/remote_config")
        assert req.headers["authorization"] == "Bearer phx_s"
        assert f"token={PROJECT_KEY}" in req.path
        assert client(b.url, send=False).get_remote_config_payload("cfg") is None


def test_bodies_are_valid_json_for_odd_distinct_ids() -> None:
    with backend() as b:
        b.flags_reply = lambda _r: Reply(200, flags_response(v4_record("f", True)))
        c = client(b.url, send=False)
        assert c.get_feature_flag("f", 12345) is True
        assert json.loads(b.flag_calls()[0].body)["distinct_id"] == 12345
