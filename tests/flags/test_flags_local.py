"""Local evaluation through the public API: documented calls, offline definitions, reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flag_support import (
    PROJECT_KEY,
    SECRET,
    backend,
    client,
    cond,
    definitions,
    flag,
    prop,
)

import posthog
from posthog import FeatureFlagResult

BETA = flag(
    "beta-feature",
    cond(prop("is_authorized", True)),
    id=11,
    version=4,
    payloads={"true": {"color": "blue"}},
)
ORG = flag("org-flag", cond(prop("is_authorized", True, kind="group")), id=12, group_type_index=0)
NEW_UI = flag("new_ui", cond(rollout=100))
DOC_PAYLOAD = flag("feature-flag-key", cond(rollout=100), payloads={"true": [1, "two"]})
DEFS = definitions(BETA, ORG, NEW_UI)


def test_documented_module_calls_run_as_written_and_evaluate_locally() -> None:
    with backend(definitions(BETA, ORG, NEW_UI, DOC_PAYLOAD)) as b:
        posthog.project_api_key = PROJECT_KEY
        posthog.host = b.url
        posthog.personal_api_key = SECRET
        assert posthog.feature_enabled("new_ui", "distinct id") is True
        template = "new.html" if posthog.feature_enabled("new_ui", "distinct id") else "old.html"
        assert template == "new.html"
        assert (
            posthog.get_feature_flag(
                "beta-feature", "distinct id", person_properties={"is_authorized": True}
            )
            is True
        )
        assert (
            posthog.get_feature_flag(
                "org-flag",
                "distinct id",
                groups={"organisation": "google"},
                group_properties={"organisation": {"is_authorized": True}},
            )
            is True
        )
        assert posthog.get_feature_flag("new_ui", "distinct_id", disable_geoip=True) is True
        assert posthog.get_feature_flag("new_ui", "distinct_id", disable_geoip=False) is True
        all_flags = posthog.get_all_flags(
            "distinct id", groups={}, person_properties={"is_authorized": True}, group_properties={}
        )
        assert all_flags == {
            "beta-feature": True,
            "org-flag": False,
            "new_ui": True,
            "feature-flag-key": True,
        }
        assert posthog.get_feature_flag_payload("feature-flag-key", "distinct id") == [1, "two"]
        assert posthog.get_feature_flag_payload(
            "beta-feature", "distinct id", person_properties={"is_authorized": True}
        ) == {"color": "blue"}
        posthog.poll_interval = 60
        posthog.feature_enabled("new_ui", "distinct id")  # settings apply on the next call
        assert posthog.default_client is not None and posthog.default_client.poll_interval == 60
        # every documented call above was answered locally: no /flags request at all
        assert b.flag_calls() == []
        assert len(b.definition_calls()) == 1


def test_module_flag_functions_accept_options_positionally() -> None:
    posthog.project_api_key = PROJECT_KEY
    posthog.flag_definitions = DEFS
    posthog.host = "http://127.0.0.1:9"
    posthog.send = False
    value = posthog.get_feature_flag(
        "org-flag", "d", {"organisation": "acme"}, {}, {"organisation": {"is_authorized": True}}
    )
    assert value is True
    assert posthog.feature_enabled("beta-feature", "d", {}, {"is_authorized": False}) is False
    assert posthog.get_all_flags("d", {}, {"is_authorized": True}, {}, True) == {
        "beta-feature": True,
        "org-flag": False,
        "new_ui": True,
    }


def test_definitions_from_a_json_file_need_no_network(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(DEFS))
    with backend() as b:
        c = client(b.url, flag_definitions=str(path), secret_key=SECRET, send=False)
        assert (
            c.get_feature_flag("beta-feature", "u", person_properties={"is_authorized": True})
            is True
        )
        assert c.feature_flag_definitions() is not None
        assert [f["key"] for f in c.feature_flag_definitions() or []] == [
            "beta-feature",
            "org-flag",
            "new_ui",
        ]
        # inconclusive + only local: None, and still nothing on the wire
        assert c.get_feature_flag("beta-feature", "u", only_evaluate_locally=True) is None
        c.shutdown()
        assert b.server.requests == []


def test_definitions_from_a_file_never_go_remote(tmp_path: Path) -> None:
    sticky = flag("sticky", cond(rollout=100), id=13, ensure_experience_continuity=True)
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(definitions(BETA, sticky)))
    with backend() as b:  # it would answer /flags, if anything asked
        c = client(b.url, flag_definitions=str(path), secret_key=SECRET, send=False)
        inconclusive = c.get_feature_flag_result("beta-feature", "u")  # property not given
        assert inconclusive is not None and inconclusive.get_value() is None
        assert inconclusive.error == "local_evaluation_inconclusive"
        assert inconclusive.locally_evaluated
        held = c.get_feature_flag_result("sticky", "u")
        assert held is not None and held.get_value() is None
        assert held.unresolved == "experience_continuity"
        missing = c.get_feature_flag_result("nope", "u")
        assert missing is not None and missing.get_value() is None
        assert missing.error == "flag_missing"
        assert c.get_feature_flag("nope", "u") is None and c.feature_enabled("sticky", "u") is None
        assert c.get_all_flags("u") == {}
        both = c.get_all_flags_and_payloads("u", flag_keys_to_evaluate=["nope", "sticky"])
        assert both == {"featureFlags": {}, "featureFlagPayloads": {}}
        snapshot = c.evaluate_flags("u", flag_keys=["beta-feature", "nope"])
        assert snapshot.error is None and snapshot.get_flag("beta-feature") is None
        assert list(snapshot.unresolved_flags) == ["beta-feature"]
        assert snapshot.get_flag("nope") is None
        c.shutdown()
        assert b.server.requests == []


def test_only_evaluate_locally_never_touches_the_network() -> None:
    with backend(DEFS) as b:
        c = client(b.url, flag_definitions=DEFS, send=False)
        result = c.get_feature_flag_result("beta-feature", "u", only_evaluate_locally=True)
        assert result is not None
        assert result.get_value() is None
        assert result.reason_code == "inconclusive"
        assert result.unresolved == "missing_context"
        assert result.error == "local_evaluation_inconclusive"
        assert c.get_feature_flag("missing", "u", only_evaluate_locally=True) is None
        assert c.get_all_flags("u", only_evaluate_locally=True) == {
            "org-flag": False,
            "new_ui": True,
        }
        snapshot = c.evaluate_flags("u", only_evaluate_locally=True)
        assert snapshot.get_flag("new_ui", send_feature_flag_events=False) is True
        assert snapshot.unresolved_flags == {"beta-feature": "missing_context"}
        c.shutdown()
        assert b.server.requests == []


def test_result_explains_itself() -> None:
    rollout = flag(
        "half", cond(prop("plan", "pro"), rollout=0), cond(prop("plan", "team")), id=5, version=9
    )
    c = client(flag_definitions=definitions(rollout, BETA), send=False)
    matched = c.get_feature_flag_result("half", "u", person_properties={"plan": "team"})
    assert matched == FeatureFlagResult(
        key="half",
        enabled=True,
        reason="Matched condition set 2",
        reason_code="condition_match",
        condition_index=1,
        locally_evaluated=True,
        flag_id=5,
        version=9,
    )
    out = c.get_feature_flag_result("half", "u", person_properties={"plan": "pro"})
    assert (
        out is not None and out.reason_code == "out_of_rollout_bound" and out.get_value() is False
    )
    none = c.get_feature_flag_result("half", "u", person_properties={"plan": "free"})
    assert none is not None and none.reason_code == "no_condition_match" and none.enabled is False
    payload = c.get_feature_flag_result(
        "beta-feature", "u", person_properties={"is_authorized": True}
    )
    assert payload is not None and payload.payload == {"color": "blue"}


def test_group_flags_and_payload_lookup_with_match_value() -> None:
    variants = flag(
        "mv",
        cond(rollout=100),
        variants=[("control", 50), ("test", 50)],
        payloads={"control": {"v": 0}, "test": {"v": 1}},
    )
    c = client(flag_definitions=definitions(ORG, variants), send=False)
    assert c.get_feature_flag("org-flag", "u") is False  # group type not passed: False locally
    assert (
        c.get_feature_flag(
            "org-flag",
            "u",
            groups={"organisation": "g1"},
            group_properties={"organisation": {"is_authorized": True}},
        )
        is True
    )
    assert c.get_feature_flag_payload("mv", "u", match_value="test") == {"v": 1}
    assert c.get_feature_flag_payload("mv", "u", match_value="control") == {"v": 0}
    value = c.get_feature_flag("mv", "u")
    assert c.get_feature_flag_payload("mv", "u") == {"v": 0 if value == "control" else 1}
    both = c.get_all_flags_and_payloads("u")
    assert both["featureFlags"] == {"org-flag": False, "mv": value}
    assert both["featureFlagPayloads"] == {"mv": json.dumps({"v": 0 if value == "control" else 1})}


def test_a_payload_that_is_not_json_reads_as_none_in_single_and_bulk_calls() -> None:
    broken = flag("broken", cond(rollout=100))
    broken["filters"]["payloads"] = {"true": "{not json", "false": "NaN"}
    good = flag("good", cond(rollout=100), payloads={"true": {"ok": 1}})
    c = client(flag_definitions=definitions(broken, good), send=False)
    assert c.get_feature_flag_payload("broken", "u") is None
    assert c.get_feature_flag_payload("broken", "u", match_value=False) is None  # NaN is not JSON
    assert c.evaluate_flags("u").get_flag_payload("broken") is None
    for only_local in (False, True):
        both = c.get_all_flags_and_payloads("u", only_evaluate_locally=only_local)
        assert both["featureFlags"] == {"broken": True, "good": True}
        # bulk: every key with a payload, None where it is not JSON (as the reference)
        assert both["featureFlagPayloads"] == {"broken": None, "good": '{"ok": 1}'}


def test_disabled_client_answers_none_without_work() -> None:
    c = client(flag_definitions=DEFS, disabled=True, send=False)
    assert c.feature_enabled("new_ui", "u") is None
    assert c.get_feature_flag_result("new_ui", "u") is None
    assert c.get_all_flags_and_payloads("u") == {"featureFlags": None, "featureFlagPayloads": None}
    assert c.evaluate_flags("u").keys == []


def test_an_absurdly_deep_payload_reads_as_none_everywhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """json.loads raises RecursionError on such nesting: it must read as not-JSON, in the
    snapshot too (it escaped there), and without a warning on every call."""
    deep = flag("deep", cond(rollout=100))
    deep["filters"]["payloads"] = {"true": "[" * 100_000 + "]" * 100_000}
    c = client(flag_definitions=definitions(deep), send=False)
    assert c.evaluate_flags("u").get_flag_payload("deep") is None
    assert c.get_feature_flag_payload("deep", "u") is None
    assert c.get_all_flags_and_payloads("u")["featureFlagPayloads"] == {"deep": None}
    assert "error" not in caplog.text.lower()
