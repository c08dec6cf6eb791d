"""The provider over a real client evaluating real flag definitions locally (and falling
back to a loopback server for a flag it does not know)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from openfeature import api
from posthog import Posthog
from posthog.integrations.openfeature import PostHogProvider
from support.recording_server import RecordingServer


def person_flag(key: str, prop: str, value: Any, **extra: Any) -> dict[str, Any]:
    condition = {
        "properties": [{"key": prop, "value": value, "operator": "exact", "type": "person"}],
        "rollout_percentage": 100,
    }
    return {"id": 1, "key": key, "active": True, "filters": {"groups": [condition]}, **extra}


DEFINITIONS = {
    "flags": [
        person_flag("beta", "plan", "pro"),
        {**person_flag("retired", "plan", "pro"), "active": False},
        {
            "id": 3,
            "key": "slow-rollout",
            "active": True,
            "filters": {"groups": [{"properties": [], "rollout_percentage": 0}]},
        },
        {
            "id": 4,
            "key": "theme",
            "active": True,
            "filters": {
                "groups": [{"properties": [], "rollout_percentage": 100}],
                "multivariate": {"variants": [{"key": "dark", "rollout_percentage": 100}]},
                "payloads": {"dark": '{"accent": "#000", "max_items": 12}'},
            },
        },
        {
            "id": 5,
            "key": "big-company",
            "active": True,
            "filters": {
                "aggregation_group_type_index": 0,
                "groups": [
                    {
                        "properties": [
                            {"key": "size", "value": 10, "operator": "gt", "type": "group",
                             "group_type_index": 0}
                        ],
                        "rollout_percentage": 100,
                    }
                ],
            },
        },
    ],
    "group_type_mapping": {"0": "company"},
    "cohorts": {},
}  # fmt: skip


@pytest.fixture
def client(server: RecordingServer) -> Iterator[Posthog]:
    ph = Posthog("phc", host=server.url, flag_definitions=DEFINITIONS, flush_interval=0.05)
    api.set_provider(PostHogProvider(ph))
    yield ph
    ph.shutdown()


def test_reasons_from_real_evaluation(client: Posthog) -> None:
    flags = api.get_client()
    pro = EvaluationContext("u1", {"plan": "pro"})
    free = EvaluationContext("u2", {"plan": "free"})
    assert flags.get_boolean_details("beta", False, pro).reason == Reason.TARGETING_MATCH
    assert flags.get_boolean_value("beta", False, pro) is True
    no_match = flags.get_boolean_details("beta", True, free)
    assert (no_match.value, no_match.reason, no_match.error_code) == (False, Reason.DEFAULT, None)
    disabled = flags.get_boolean_details("retired", True, pro)
    assert (disabled.value, disabled.reason) == (False, Reason.DISABLED)
    rollout = flags.get_boolean_details("slow-rollout", True, pro)
    assert (rollout.value, rollout.reason) == (False, Reason.SPLIT)


def test_variant_and_payload_types(client: Posthog) -> None:
    flags = api.get_client()
    ctx = EvaluationContext("u1")
    theme = flags.get_string_details("theme", "light", ctx)
    assert (theme.value, theme.variant, theme.reason) == ("dark", "dark", Reason.TARGETING_MATCH)
    assert flags.get_object_value("theme", {}, ctx) == {"accent": "#000", "max_items": 12}
    assert flags.get_integer_details("theme", 0, ctx).error_code == ErrorCode.TYPE_MISMATCH


def test_groups_and_group_properties_reach_the_engine(client: Posthog) -> None:
    flags = api.get_client()
    big = EvaluationContext(
        "u1", {"groups": {"company": "acme"}, "group_properties": {"company": {"size": 50}}}
    )
    small = EvaluationContext(
        "u1", {"groups": {"company": "tiny"}, "group_properties": {"company": {"size": 2}}}
    )
    assert flags.get_boolean_details("big-company", False, big).reason == Reason.TARGETING_MATCH
    assert flags.get_boolean_value("big-company", True, small) is False


def test_unknown_flag_with_file_definitions_is_not_found_without_network(
    client: Posthog, server: RecordingServer
) -> None:
    details = api.get_client().get_boolean_details("nope", True, EvaluationContext("u1"))
    assert (details.value, details.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    assert not any(r.path.startswith("/flags") for r in server.requests)


def test_unknown_flag_without_definitions_asks_server_then_flag_not_found(
    server: RecordingServer,
) -> None:
    ph = Posthog("phc", host=server.url, flush_interval=0.05)
    api.set_provider(PostHogProvider(ph))
    try:
        details = api.get_client().get_boolean_details("nope", True, EvaluationContext("u1"))
    finally:
        ph.shutdown()
    assert (details.value, details.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    assert [r.path for r in server.requests if r.path.startswith("/flags")] == ["/flags/?v=2"]


def test_reads_report_feature_flag_called(client: Posthog, server: RecordingServer) -> None:
    api.get_client().get_boolean_value("beta", False, EvaluationContext("u1", {"plan": "pro"}))
    client.flush()
    [event] = server.wait_for_events(1)
    assert event["event"] == "$feature_flag_called"
    assert event["properties"]["$feature_flag"] == "beta"
    assert event["properties"]["$feature_flag_response"] is True
