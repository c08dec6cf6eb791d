"""Places where the flag API layer disagreed with the reference SDK (spec 3.8, 5.1, 5.2,
5.5, 6.7), each pinned through the real client against a loopback server."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flag_support import (
    SECRET,
    FlagsBackend,
    backend,
    client,
    closed_port,
    cond,
    definitions,
    flag,
    flags_response,
    flushed_events,
    prop,
    v4_record,
)

from posthog import AsyncPosthog
from support.recording_server import Reply

WARNING = "cannot be evaluated locally"


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


def test_a_remote_false_keeps_its_payload_in_single_reads_only() -> None:
    # the reference 7.91.1 returns the server's payload of a disabled flag from single
    # reads (spec 5.1); bulk reads list only enabled flags' payloads (3.8)
    with backend() as b:
        record = v4_record("toggle", False, {"off": 1})
        b.flags_reply = lambda _r: Reply(200, flags_response(record))
        c = client(b.url, send=False)
        assert c.get_feature_flag_payload("toggle", "u") == {"off": 1}
        result = c.get_feature_flag_result("toggle", "u")
        assert result is not None and result.get_value() is False
        assert result.payload == {"off": 1}
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


# -- 12. get_all_flags after a failed remote call: {} (spec 2.3, 5.1) -----------------
def test_get_all_flags_is_an_empty_dict_when_the_remote_call_fails() -> None:
    c = client(f"http://127.0.0.1:{closed_port()}", send=False)
    assert c.get_all_flags("u") == {}
    assert c.get_all_flags_and_payloads("u") == {"featureFlags": {}, "featureFlagPayloads": {}}
    with backend() as b:
        b.flags_reply = lambda _r: Reply(200, {"flags": {}, "quotaLimited": ["feature_flags"]})
        c = client(b.url, send=False)
        assert c.get_all_flags("u") == {}
        b.flags_reply = lambda _r: Reply(500, {"detail": "boom"})
        defs = definitions(flag("local", cond(rollout=100)), flag("needs", cond(prop("a", 1))))
        c = client(b.url, send=False, secret_key=SECRET)
        b.defs = defs
        assert c.get_all_flags("u") == {"local": True}  # what local evaluation decided
    # None stays the answer of "nobody to evaluate for" and of a disabled client
    assert client(send=False).get_all_flags() is None
    assert client(send=False, disabled=True).get_all_flags("u") is None


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


# -- 14. which flags can never be evaluated locally, once per definition set (5.2) ----
class Lines(logging.Handler):
    """The ``posthog`` logger's warnings about unsupported flags, waitable."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if WARNING in message:
            with self.changed:
                self.messages.append(message)
                self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.messages) >= count, timeout)


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("posthog")
    level = logger.level
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def dependency(key: str, chain: list[str] | None) -> dict[str, Any]:
    spec = {"key": key, "type": "flag", "operator": "flag_evaluates_to", "value": True}
    return spec if chain is None else {**spec, "dependency_chain": chain}


UNSUPPORTED = definitions(
    flag("fine", cond(prop("plan", "pro"))),
    flag("dynamic", cond({"key": "id", "type": "cohort", "value": 1})),
    flag("sticky", cond(rollout=100), ensure_experience_continuity=True),
    flag("static", cond({"key": "id", "type": "cohort", "value": 99})),
    flag("operator", cond(prop("plan", "pro", "frobnicate"))),
    flag("value", cond(prop("age", "old", "gt"))),
    flag("missing-dep", cond(dependency("ghost", ["ghost"]))),
    flag("circular", cond(dependency("circular", []))),
    flag("no-chain", cond(dependency("fine", None))),
    flag("on-sticky", cond(dependency("sticky", ["sticky"]))),
    flag("on-fine", cond(dependency("fine", ["fine"]))),
    flag("browser-only", ensure_experience_continuity=True, evaluation_runtime="client"),
    flag("inactive", ensure_experience_continuity=True, active=False),
    cohorts={"1": {"type": "AND", "values": [prop("plan", "pro")]}},
)
LISTED = {
    "sticky": "experience continuity",
    "static": "static cohort 99",
    "operator": "unknown operator 'frobnicate'",
    "value": "numeric operator needs a finite number",
    "missing-dep": "dependency 'ghost' is not loaded",
    "circular": "circular dependency on 'circular'",
    "no-chain": "dependency chain of 'fine' is missing",
    "on-sticky": "dependency 'sticky': experience continuity",
}


def assert_lists_exactly_the_unsupported(message: str) -> None:
    named = {part.split(" (", 1)[0] for part in message.split(": ", 1)[1].split("), ")}
    assert named == set(LISTED), message
    for key, why in LISTED.items():
        assert f"{key} (" in message and why in message, (key, message)
    assert message.startswith(f"[PostHog] {len(LISTED)} flag(s)")


def definition_calls(n: int) -> Callable[[FlagsBackend], bool]:
    return lambda b: len(b.definition_calls()) >= n


def test_one_warning_per_definition_set_not_per_poll(lines: Lines) -> None:
    with backend(UNSUPPORTED) as b:
        c = client(b.url, secret_key=SECRET, send=False, poll_interval=0.02)
        c.load_feature_flags()
        assert lines.wait_for(1)
        assert_lists_exactly_the_unsupported(lines.messages[0])
        # the flags are as listed: local-only reads cannot decide them, "fine" is decided
        assert c.get_feature_flag("sticky", "u", only_evaluate_locally=True) is None
        assert c.get_feature_flag("fine", "u", person_properties={"plan": "pro"}) is True
        # 304s: the same set, no new line (each poll finishes before the next starts)
        seen = len(b.definition_calls())
        assert b.wait(definition_calls(seen + 3))
        assert [r.status for r in b.definition_calls()[-3:]] == [304, 304, 304]
        # identical definitions under a new ETag: still the same set
        b.etag = '"v2"'
        assert b.wait(lambda b: [r.status for r in b.definition_calls()].count(200) >= 2)
        seen = len(b.definition_calls())
        assert b.wait(definition_calls(seen + 2))
        assert len(lines.messages) == 1
        # a new set is checked and reported again, once
        b.defs = json.loads(json.dumps(UNSUPPORTED))
        b.defs["flags"].append(flag("another", ensure_experience_continuity=True))
        b.etag = '"v3"'
        assert lines.wait_for(2)
        assert "another (experience continuity)" in lines.messages[1]
        seen = len(b.definition_calls())
        assert b.wait(definition_calls(seen + 3))
        assert len(lines.messages) == 2


def test_nothing_is_logged_when_every_flag_is_supported(lines: Lines) -> None:
    with backend(definitions(flag("fine", cond(prop("plan", "pro"))))) as b:
        c = client(b.url, secret_key=SECRET, send=False)
        c.load_feature_flags()
        assert c.feature_flag_definitions() is not None
    assert lines.messages == []


def test_definitions_from_a_file_are_checked_once(lines: Lines) -> None:
    c = client(flag_definitions=UNSUPPORTED, send=False)
    assert c.get_feature_flag("fine", "u", person_properties={"plan": "pro"}) is True
    c.load_feature_flags()  # the same file again
    assert len(lines.messages) == 1
    assert_lists_exactly_the_unsupported(lines.messages[0])


def test_the_asyncio_client_warns_the_same_way(lines: Lines) -> None:
    with backend(UNSUPPORTED) as b:

        async def main() -> None:
            c = AsyncPosthog(
                "phc_test_project",
                host=b.url,
                secret_key=SECRET,
                send=False,
                enable_local_evaluation=False,
            )
            await c.load_feature_flags()
            await c.load_feature_flags()  # a 304
            await c.shutdown()

        asyncio.run(main())
        assert [r.status for r in b.definition_calls()] == [200, 304]
    assert len(lines.messages) == 1
    assert_lists_exactly_the_unsupported(lines.messages[0])
