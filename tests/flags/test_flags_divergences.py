"""Places where the flag API layer disagreed with the reference SDK (spec 3.8, 5.1, 5.2,
5.5, 6.7), each pinned through the real client against a loopback server."""

from __future__ import annotations

from typing import Any

import pytest
from flag_support import (
    backend,
    client,
    cond,
    definitions,
    flag,
    flags_response,
    flushed_events,
    prop,
    v4_record,
)

from support.recording_server import Reply

# -- 10. a local False reads its "false" payload (spec 6.7) ---------------------------
TOGGLE = flag(
    "toggle", cond(prop("plan", "pro")), payloads={"true": {"on": 1}, "false": {"off": 1}}
)


def test_a_local_false_returns_its_false_payload_in_single_reads() -> None:
    c = client(flag_definitions=definitions(TOGGLE), send=False)
    free = {"person_properties": {"plan": "free"}}
    assert c.get_feature_flag("toggle", "u", **free) is False
    assert c.get_feature_flag_payload("toggle", "u", **free) == {"off": 1}
    result = c.get_feature_flag_result("toggle", "u", **free)
    assert result is not None and result.get_value() is False and result.payload == {"off": 1}
    pro = {"person_properties": {"plan": "pro"}}
    assert c.get_feature_flag_payload("toggle", "u", **pro) == {"on": 1}
    # bulk local reads kept theirs already: every local value's payload, as a JSON string
    both = c.get_all_flags_and_payloads("u", **free)
    assert both == {
        "featureFlags": {"toggle": False},
        "featureFlagPayloads": {"toggle": '{"off": 1}'},
    }


def test_a_remote_false_never_has_a_payload() -> None:
    with backend() as b:
        record = v4_record("toggle", False, {"off": 1})
        b.flags_reply = lambda _r: Reply(200, flags_response(record))
        c = client(b.url, send=False)
        assert c.get_feature_flag_payload("toggle", "u") is None
        result = c.get_feature_flag_result("toggle", "u")
        assert result is not None and result.get_value() is False and result.payload is None
        assert c.get_all_flags_and_payloads("u") == {
            "featureFlags": {"toggle": False},
            "featureFlagPayloads": {},
        }


# -- 11. a record with a wrongly typed known field reads as disabled (spec 3.8, 5.1) --
@pytest.mark.parametrize(
    "bad",
    [
        {"key": "bad", "enabled": "yes"},
        {"key": "bad", "value": True, "enabled": "yes"},
        {"key": "bad", "enabled": True, "variant": 5},
        {"key": "bad", "enabled": True, "reason": {"code": 1}},
        {"key": "bad", "enabled": True, "metadata": {"version": "3"}},
        {"key": "bad", "enabled": True, "metadata": "x"},
        ["not", "a", "record"],
    ],
)
def test_a_malformed_record_reads_disabled_with_unknown_error_and_others_survive(
    bad: Any,
) -> None:
    with backend() as b:
        body = flags_response(v4_record("good", "blue"))
        body["flags"]["bad"] = bad
        b.flags_reply = lambda _r: Reply(200, body)
        c = client(b.url)
        assert c.get_feature_flag("bad", "u") is False
        assert c.feature_enabled("bad", "u") is False
        result = c.get_feature_flag_result("bad", "u")
        assert result is not None and result.get_value() is False
        assert result.error == "unknown_error" and result.payload is None
        assert c.get_feature_flag("good", "u") == "blue"
        assert c.get_all_flags("u") == {"bad": False, "good": "blue"}
        [event] = [
            e
            for e in flushed_events(c, b, "$feature_flag_called")
            if e["properties"]["$feature_flag"] == "bad"
        ]
        assert event["properties"]["$feature_flag_response"] is False
        assert event["properties"]["$feature_flag_error"] == "unknown_error"


def test_integral_floats_and_nulls_are_not_malformed() -> None:
    record = {
        "key": "f",
        "enabled": True,
        "variant": None,
        "failed": None,
        "reason": {"code": "condition_match", "condition_index": 0.0, "description": None},
        "metadata": {"id": 7.0, "version": 2, "payload": None, "has_experiment": None},
    }
    with backend() as b:
        b.flags_reply = lambda _r: Reply(200, {"flags": {"f": record}})
        c = client(b.url, send=False)
        result = c.get_feature_flag_result("f", "u")
        assert result is not None and result.get_value() is True and result.error is None
        assert result.flag_id == 7 and result.condition_index == 0


# -- 13. a local-only read without a value (spec 5.5) ---------------------------------
def test_an_inconclusive_local_only_read_reports_not_evaluated_and_no_error() -> None:
    defs = definitions(TOGGLE)
    with backend() as b:
        c = client(b.url, flag_definitions=defs)
        assert c.get_feature_flag("toggle", "u1", only_evaluate_locally=True) is None
        result = c.get_feature_flag_result("missing", "u2", only_evaluate_locally=True)
        assert result is not None and result.get_value() is None
        assert result.error == "flag_missing"  # the result keeps its reason
        events = {e["distinct_id"]: e for e in flushed_events(c, b, "$feature_flag_called")}
        assert set(events) == {"u1", "u2"}
        for event in events.values():
            props = event["properties"]
            assert props["$feature_flag_response"] is None
            assert props["locally_evaluated"] is False
            assert "$feature_flag_error" not in props
        assert b.flag_calls() == []


def test_a_remote_failure_still_reports_its_error() -> None:
    with backend() as b:
        b.flags_reply = lambda _r: Reply(500, {"detail": "boom"})
        c = client(b.url, feature_flags_request_max_retries=0)
        assert c.get_feature_flag("toggle", "u") is None
        [event] = flushed_events(c, b, "$feature_flag_called")
        assert event["properties"]["$feature_flag_error"] == "api_error_500"
        assert event["properties"]["locally_evaluated"] is False


# -- 16b. a 200 /flags answer that is not JSON is an unknown_error (spec 5.1) ---------
def test_a_non_json_flags_answer_is_an_unknown_error_not_an_exception() -> None:
    with backend() as b:
        b.flags_reply = lambda _r: Reply(200, "<html><body>gateway login</body></html>")
        c = client(b.url)
        assert c.get_feature_flag("f", "u") is None
        result = c.get_feature_flag_result("f", "u")  # 16a: our structured result, no raise
        assert result is not None and result.get_value() is None
        assert result.error == "unknown_error"
        snapshot = c.evaluate_flags("u")
        assert snapshot.error == "unknown_error"
        [event] = flushed_events(c, b, "$feature_flag_called")
        assert event["properties"]["$feature_flag_error"] == "unknown_error"
        assert len(b.flag_calls()) == 3  # not retried
