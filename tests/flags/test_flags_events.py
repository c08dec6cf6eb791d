"""``$feature_flag_called``: content, deduplication, suppression; pure pieces as facts."""

from __future__ import annotations

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

from posthog._flags.events import CalledDedupe, FlagCalled, called_properties, dedupe_key
from posthog._flags.remote import build_body, normalise
from support.recording_server import Reply

DEFS = definitions(
    flag(
        "beta",
        cond(prop("plan", "pro")),
        cond(rollout=100),
        id=42,
        version=3,
        payloads={"true": {"a": 1}},
    ),
    flag("org", cond(rollout=100), group_type_index=0, id=43),
)


def test_local_read_sends_one_event_with_its_reason() -> None:
    with backend() as b:
        c = client(b.url, flag_definitions=DEFS)
        assert c.get_feature_flag("beta", "u", person_properties={"plan": "free"}) is True
        [event] = flushed_events(c, b, "$feature_flag_called")
        props = event["properties"]
        assert event["distinct_id"] == "u"
        assert {
            k: props[k] for k in props if k.startswith("$feature") or k == "locally_evaluated"
        } == {
            "$feature_flag": "beta",
            "$feature_flag_response": True,
            "$feature/beta": True,
            "locally_evaluated": True,
            "$feature_flag_payload": {"a": 1},
            "$feature_flag_reason": "Matched condition set 2",
            "$feature_flag_reason_code": "condition_match",
            "$feature_flag_condition_index": 1,
            "$feature_flag_id": 42,
            "$feature_flag_version": 3,
        }


def test_events_are_deduplicated_per_id_flag_value_and_groups() -> None:
    with backend() as b:
        c = client(b.url, flag_definitions=DEFS)
        for _ in range(3):
            c.feature_enabled("beta", "u", person_properties={"plan": "pro"})
        c.feature_enabled("beta", "v", person_properties={"plan": "pro"})
        c.get_feature_flag("org", "u", groups={"organisation": "a"})
        c.get_feature_flag("org", "u", groups={"organisation": "a"})
        c.get_feature_flag("org", "u", groups={"organisation": "b"})
        c.get_feature_flag("org", "u", groups={"organisation": "b"}, send_feature_flag_events=False)
        c.get_feature_flag("org", "w", send_feature_flag_events=False)
        events = flushed_events(c, b, "$feature_flag_called")
        seen = [
            (e["distinct_id"], e["properties"]["$feature_flag"], e["properties"].get("$groups"))
            for e in events
        ]
        assert seen == [
            ("u", "beta", None),
            ("v", "beta", None),
            ("u", "org", {"organisation": "a"}),
            ("u", "org", {"organisation": "b"}),
        ]


def test_remote_and_failed_reads_say_so_in_the_event() -> None:
    with backend() as b:
        b.flags_reply = lambda _r: Reply(
            200, flags_response(v4_record("remote-flag", "v1", {"p": 2}))
        )
        c = client(b.url)
        assert c.get_feature_flag("remote-flag", "u") == "v1"
        assert c.get_feature_flag("gone", "u") is None
        events = {
            e["properties"]["$feature_flag"]: e["properties"]
            for e in flushed_events(c, b, "$feature_flag_called")
        }
        remote = events["remote-flag"]
        assert remote["locally_evaluated"] is False
        assert remote["$feature_flag_request_id"] == "req-1"
        assert remote["$feature_flag_evaluated_at"] == 1700000000000
        assert remote["$feature_flag_payload"] == {"p": 2}
        assert remote["$feature_flag_reason"] == "Matched condition set 1"
        gone = events["gone"]
        assert gone["$feature_flag_response"] is None
        assert gone["$feature_flag_error"] == "flag_missing"


def test_snapshot_reads_report_once_and_payload_reads_do_not() -> None:
    with backend() as b:
        c = client(b.url, flag_definitions=DEFS)
        snap = c.evaluate_flags("u", person_properties={"plan": "pro"})
        assert snap.get_flag_payload("beta") == {"a": 1}
        assert snap.is_enabled("beta") and snap.is_enabled("beta")
        assert snap.is_enabled("org", default_value=True) is False  # group type not passed
        assert snap.get_flag("missing") is None
        names = sorted(
            e["properties"]["$feature_flag"] for e in flushed_events(c, b, "$feature_flag_called")
        )
        assert names == ["beta", "missing", "org"]
        assert sorted(snap.only_accessed().keys) == ["beta", "org"]


def test_minimal_events_trim_to_the_allowlist() -> None:
    read = FlagCalled(
        "f",
        True,
        {"big": "payload"},
        True,
        "r",
        "condition_match",
        0,
        None,
        1,
        2,
        False,
        minimal=True,
    )
    props = called_properties(read)
    assert "$feature_flag_payload" not in props and "$feature/f" not in props
    assert props["$feature_flag_has_experiment"] is False
    kept = called_properties(
        FlagCalled("f", True, {"x": 1}, True, has_experiment=True, minimal=True)
    )
    assert kept["$feature_flag_payload"] == {"x": 1}


def test_dedupe_lru_evicts_the_oldest_distinct_id() -> None:
    dedupe = CalledDedupe(max_ids=2)
    key = dedupe_key("f", True, {})
    assert dedupe.first_time("a", key) and dedupe.first_time("b", key)
    assert not dedupe.first_time("a", key)  # "a" is now the most recent
    assert dedupe.first_time("c", key)  # evicts "b"
    assert len(dedupe) == 2
    assert dedupe.first_time("b", key)
    assert not dedupe.first_time("c", key)


def test_body_builder_and_normaliser_facts() -> None:
    body = build_body(
        api_key="k",
        distinct_id="d",
        groups={"company": "c1"},
        person_properties={},
        group_properties={"company": {"$group_key": "override"}},
        geoip_disable=False,
        device_id="dev",
        flag_keys=[],
    )
    assert body["group_properties"] == {"company": {"$group_key": "override"}}
    assert "flag_keys_to_evaluate" not in body
    assert body["device_id"] == "dev" and body["geoip_disable"] is False
    good = normalise(
        {"flags": {"a": {"key": "a", "value": 2.0}, "b": {"key": "b", "metadata": "x"}}}
    )
    assert good.flags["a"].value is True and good.flags["a"].payload == "2.0"
    assert good.flags["b"].value is False and good.flags["b"].malformed == "metadata"
    assert normalise([1, 2]).errors_while_computing is True
    assert normalise({"flags": {}, "quotaLimited": ["feature_flags"]}).quota_limited is True
