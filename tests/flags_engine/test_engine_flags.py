"""Flag-level facts (spec 6.2, 6.3, 6.7): rollout, variants, payloads, groups, holdouts."""

from __future__ import annotations

import pytest
from flagengine_builders import cond, flag, flagset, oracle_hash, person, prop, run

from posthog._flags.evaluator import Reason, Subject, evaluate, evaluate_all, payload_for
from posthog._flags.model import EMPTY_FLAGSET, parse_definitions

IDS = [f"id-{i}" for i in range(200)]


def company(distinct_id: str = "user-1", key: str = "acme", props: dict | None = None, **kw):
    group_props = {"company": {"$group_key": key, **(props or {})}}
    return Subject(distinct_id, groups={"company": key}, group_properties=group_props, **kw)


def test_inactive_flag_is_false_before_anything_else():
    result = run(
        flag("f", active=False, ensure_experience_continuity=True, payloads={"false": "1"})
    )
    assert (result.value, result.reason, result.description) == (
        False,
        Reason.DISABLED,
        "Flag is disabled",
    )
    assert result.payload == "1"  # spec 6.7: a "false" payload is returned locally


def test_missing_active_field_reads_as_disabled():
    definition = flag("f")
    del definition["active"]
    assert run(definition).reason is Reason.DISABLED


def test_experience_continuity_is_inconclusive_except_on_the_server():
    definition = flag("f", ensure_experience_continuity=True)
    assert run(definition).unresolved == "experience_continuity"
    assert run(definition, server_side=True).value is True


@pytest.mark.parametrize(
    ("conditions", "value", "reason", "index"),
    [
        ([cond(rollout=100)], True, Reason.CONDITION_MATCH, 0),
        ([cond(rollout=None)], True, Reason.CONDITION_MATCH, 0),
        ([cond(rollout=0)], False, Reason.OUT_OF_ROLLOUT_BOUND, 0),
        ([cond(prop("plan", "exact", "pro")), cond()], True, Reason.CONDITION_MATCH, 1),
        ([cond(prop("plan", "exact", "pro"))], False, Reason.NO_CONDITION_MATCH, None),
        (
            [cond(rollout=0), cond(prop("plan", "exact", "pro"))],
            False,
            Reason.OUT_OF_ROLLOUT_BOUND,
            0,
        ),
    ],
)
def test_conditions_are_ored_in_order(conditions, value, reason, index):
    result = run(flag("f", *conditions), person(plan="free"))
    assert (result.value, result.reason, result.condition_index) == (value, reason, index)


def test_no_condition_sets_is_no_match():
    result = run(flag("f", filters={"groups": []}))
    assert (result.value, result.reason) == (False, Reason.NO_CONDITION_MATCH)


def test_match_description_and_metadata():
    result = run(flag("f", has_experiment=False))
    assert result.description == "Matched condition set 1"
    assert (result.flag_id, result.flag_version, result.has_experiment) == (1, 3, False)


@pytest.mark.parametrize("pct", [0, 10, 45, 50, 99.5, 100])
def test_rollout_passes_iff_hash_at_most_percentage(pct):
    flags = flagset(flag("roll", cond(rollout=pct)))
    for distinct_id in IDS:
        expected = oracle_hash("roll", distinct_id) <= pct / 100
        assert evaluate(flags, "roll", person(distinct_id)).value is expected


def test_variants_follow_the_variant_hash_ranges():
    variants = {"a": 30, "b": 30, "c": 40}
    flags = flagset(flag("mv", variants=variants))
    for distinct_id in IDS:
        h = oracle_hash("mv", distinct_id, salt="variant")
        expected = "a" if h < 0.3 else "b" if h < 0.6 else "c"
        assert evaluate(flags, "mv", person(distinct_id)).value == expected


def test_variants_not_covering_the_hash_fall_back_to_true():
    assert run(flag("mv", variants={"a": 0, "b": 0})).value is True


@pytest.mark.parametrize(("override", "expected"), [("b", "b"), ("nope", "a"), (None, "a")])
def test_condition_variant_override_only_for_known_variants(override, expected):
    assert run(flag("mv", cond(variant=override), variants={"a": 100, "b": 0})).value == expected


def test_payloads_for_values_variants_and_match_value():
    payloads = {"true": '{"t":1}', "false": '"off"', "b": "[1]"}
    flags = flagset(
        flag("bool", payloads=payloads),
        flag("mv", cond(variant="b"), variants={"a": 50, "b": 50}, payloads=payloads),
        flag("none"),
    )
    assert evaluate(flags, "bool", person()).payload == '{"t":1}'
    assert evaluate(flags, "mv", person()).payload == "[1]"
    assert evaluate(flags, "none", person()).payload is None
    assert payload_for(flags, "bool", False) == '"off"'
    assert payload_for(flags, "mv", "a") is None
    assert payload_for(flags, "mv", "b") == "[1]"
    assert payload_for(flags, "unknown", True) is None


def test_non_string_payloads_are_kept_as_compact_json():
    assert run(flag("f", payloads={"true": {"a": [1, 2]}})).payload == '{"a":[1,2]}'


# --- group flags and mixed targeting -------------------------------------------------


def test_group_flag_without_its_group_is_false():
    result = run(flag("g", group=0), person())
    assert (result.value, result.reason) == (False, Reason.GROUP_NOT_PASSED)


def test_group_flag_matches_on_group_properties():
    definition = flag("g", cond(prop("tier", "exact", "gold", kind="group")), group=0)
    assert run(definition, company(props={"tier": "gold"})).value is True
    assert run(definition, company(props={"tier": "iron"})).value is False
    assert run(definition, company()).unresolved == "missing_context"


def test_group_flag_buckets_on_the_group_key():
    flags = flagset(flag("g", cond(rollout=50), group=0))
    for key in IDS:
        expected = oracle_hash("g", key) <= 0.5
        assert evaluate(flags, "g", company("same-person", key)).value is expected


def test_group_flag_without_group_properties_is_inconclusive_locally():
    subject = Subject("u", groups={"company": "acme"})
    definition = flag("g", group=0)
    assert run(definition, subject).unresolved == "missing_context"
    assert run(definition, subject, server_side=True).value is True


def test_unknown_group_type_index_is_unsupported():
    assert run(flag("g", group=7), company()).unresolved == "unsupported_definition"


def test_mixed_targeting_uses_each_conditions_own_context():
    definition = flag(
        "mixed",
        cond(prop("tier", "exact", "gold", kind="group"), group=0),
        cond(prop("plan", "exact", "pro")),
    )
    gold_company = company(props={"tier": "gold"}, person_properties={"plan": "free"})
    assert run(definition, gold_company).condition_index == 0
    no_group = person(plan="pro")
    assert (run(definition, no_group).value, run(definition, no_group).condition_index) == (True, 1)
    missing_group_props = Subject("u", groups={"company": "acme"}, person_properties={"plan": "x"})
    assert run(definition, missing_group_props).unresolved == "missing_context"


def test_mixed_targeting_with_unknown_group_type_is_no_match():
    definition = flag("mixed", cond(group=5), cond(prop("plan", "exact", "pro")))
    assert run(definition, person(plan="pro")).condition_index == 1


def test_mixed_condition_buckets_on_its_group_key():
    flags = flagset(flag("m", cond(rollout=50, group=0)))
    for key in IDS[:50]:
        assert evaluate(flags, "m", company("p", key)).value is (oracle_hash("m", key) <= 0.5)


# --- holdouts, early access, early exit, device bucketing -----------------------------


def test_holdout_returns_the_holdout_value_before_conditions():
    result = run(
        flag("h", cond(rollout=0), filters={"holdout": {"id": 7, "exclusion_percentage": 100}})
    )
    assert (result.value, result.reason) == ("holdout-7", Reason.HOLDOUT)


@pytest.mark.parametrize("pct", [0, 30, 150, -5])
def test_holdout_membership_uses_the_holdout_hash(pct):
    flags = flagset(flag("h", filters={"holdout": {"id": 2, "exclusion_percentage": pct}}))
    clamped = min(max(pct, 0), 100) / 100
    for distinct_id in IDS:
        held = oracle_hash("holdout", distinct_id, sep="-") <= clamped
        assert evaluate(flags, "h", person(distinct_id)).value == ("holdout-2" if held else True)


@pytest.mark.parametrize(
    ("enrollment", "expected"),
    [(True, True), ("true", True), (False, False), ("false", False), ("yes", False), (None, False)],
)
def test_feature_enrollment_reads_one_person_property(enrollment, expected):
    definition = flag("ea", cond(rollout=0), filters={"feature_enrollment": True})
    result = run(definition, person(**{"$feature_enrollment/ea": enrollment}))
    assert (result.value, result.reason) == (expected, Reason.FEATURE_ENROLLMENT)


def test_feature_enrollment_missing_property_or_group_flag_is_inconclusive():
    definition = flag("ea", filters={"feature_enrollment": True})
    assert run(definition).unresolved == "missing_context"
    assert run(definition, server_side=True).value is False
    group_ea = flag("ea", group=0, filters={"feature_enrollment": True})
    assert run(group_ea, company()).unresolved == "unsupported_definition"


def test_early_exit_stops_at_the_first_out_of_rollout_condition():
    conditions = (cond(rollout=0), cond())
    with_exit = run(flag("e", *conditions, filters={"early_exit": True}))
    assert (with_exit.value, with_exit.reason, with_exit.condition_index) == (
        False,
        Reason.OUT_OF_ROLLOUT_BOUND,
        0,
    )
    assert run(flag("e", *conditions)).condition_index == 1
    missing_first = (cond(prop("plan", "exact", "x")), *conditions)
    assert (
        run(flag("e", *missing_first, filters={"early_exit": True})).unresolved == "missing_context"
    )


@pytest.mark.parametrize("where", ["top", "filters"])
def test_device_id_bucketing(where):
    extra = {"bucketing_identifier": "device_id"}
    definition = (
        flag("d", cond(rollout=50), **extra)
        if where == "top"
        else flag("d", cond(rollout=50), filters=extra)
    )
    flags = flagset(definition)
    for device in IDS:
        expected = oracle_hash("d", device) <= 0.5
        assert evaluate(flags, "d", person("constant", device_id=device)).value is expected
    assert evaluate(flags, "d", person("x")).unresolved == "missing_context"
    fallback = evaluate(flags, "d", person("id-3"), server_side=True).value
    assert fallback is (oracle_hash("d", "id-3") <= 0.5)


# --- inconclusive handling ------------------------------------------------------------


def test_inconclusive_conditions_are_skipped_when_a_later_one_matches():
    definition = flag("f", cond(prop("plan", "exact", "pro")), cond())
    assert (run(definition).value, run(definition).condition_index) == (True, 1)
    assert run(flag("f", cond(prop("plan", "exact", "pro")))).unresolved == "missing_context"


def test_a_false_filter_rules_out_a_condition_with_an_inconclusive_one():
    definition = flag("f", cond(prop("plan", "exact", "pro"), prop("seen", "exact", "yes")))
    assert run(definition, person(seen="no")).reason is Reason.NO_CONDITION_MATCH


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([cond(prop("a", "bogus", 1)), cond(prop("plan", "exact", 1))], "unsupported_definition"),
        ([cond(prop("plan", "exact", 1)), cond(prop("a", "bogus", 1))], "unsupported_definition"),
        (
            [
                cond(prop("plan", "exact", 1)),
                cond({"type": "flag", "key": "x", "operator": "flag_evaluates_to", "value": True}),
            ],
            "unresolved_dependency",
        ),
    ],
)
def test_unresolved_reason_precedence(conditions, expected):
    assert run(flag("f", *conditions)).unresolved == expected


def test_inconclusive_result_shape():
    result = run(flag("f", cond(prop("plan", "exact", "pro")), payloads={"false": "1"}))
    assert (result.value, result.payload, result.reason) == (None, None, Reason.INCONCLUSIVE)
    assert result.description == "Inconclusive: missing property 'plan'"
    assert result.inconclusive


def test_condition_filter_negation_is_ignored_outside_cohorts():
    definition = flag("f", cond(prop("plan", "exact", "pro", negation=True)))
    assert run(definition, person(plan="pro")).value is True


# --- API shape --------------------------------------------------------------------------


def test_unknown_key_is_flag_missing():
    result = evaluate(flagset(flag("f")), "nope", person())
    assert (result.value, result.reason) == (None, Reason.FLAG_MISSING)


def test_evaluate_all_returns_every_flag_or_the_requested_keys():
    flags = flagset(flag("a"), flag("b", active=False))
    assert {k: v.value for k, v in evaluate_all(flags, person()).items()} == {"a": True, "b": False}
    only = evaluate_all(flags, person(), ["b", "zzz"])
    assert list(only) == ["b", "zzz"] and only["zzz"].reason is Reason.FLAG_MISSING


def test_flagset_exposes_definition_metadata():
    data = {
        "flags": [flag("a", evaluation_runtime="server", has_experiment=True, variants={"x": 100})],
        "group_type_mapping": {"0": "company"},
        "property_matching_version": 2,
        "minimal_flag_called_events": True,
    }
    flags = parse_definitions(data)
    definition = flags.flags["a"]
    assert flags.raw is data and flags.property_matching_version == 2
    assert flags.minimal_flag_called_events is True and dict(flags.group_type_mapping) == {
        "0": "company"
    }
    assert (definition.key, definition.id, definition.version, definition.active) == (
        "a",
        1,
        3,
        True,
    )
    assert (definition.evaluation_runtime, definition.has_experiment, definition.variants) == (
        "server",
        True,
        ("x",),
    )
    assert definition.raw is data["flags"][0] and definition.aggregation_group_type_index is None
    with pytest.raises(TypeError):
        flags.flags["b"] = definition  # type: ignore[index]


def test_definition_order_is_kept():
    assert list(flagset(flag("z"), flag("a"), flag("m")).flags) == ["z", "a", "m"]


# --- malformed definitions --------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [None, [], "x", 3, {"flags": "nope"}, {"flags": [1, None, {"key": 5}]}]
)
def test_garbage_input_gives_an_empty_flagset(data):
    assert len(parse_definitions(data).flags) == 0  # type: ignore[arg-type]


def test_empty_flagset_constant():
    assert len(EMPTY_FLAGSET.flags) == 0 and EMPTY_FLAGSET.property_matching_version == 1


@pytest.mark.parametrize(
    "broken",
    [
        flag("bad", filters={"groups": "nope"}),
        flag("bad", variants={"a": "fifty"}),
        {"key": "bad", "active": True, "filters": []},
        flag("bad", filters={"holdout": {"id": 1, "exclusion_percentage": "lots"}}),
    ],
)
def test_a_malformed_flag_is_marked_and_others_survive(broken):
    flags = flagset(broken, flag("good"))
    assert evaluate(flags, "bad", person()).unresolved == "unsupported_definition"
    assert evaluate(flags, "good", person()).value is True


@pytest.mark.parametrize("bad_condition", ["nope", cond(rollout="50"), {"properties": "x"}])
def test_a_malformed_condition_is_marked_and_others_survive(bad_condition):
    definition = flag("f", bad_condition, cond(prop("plan", "exact", "pro")))
    assert run(definition, person(plan="pro")).condition_index == 1
    assert run(definition, person(plan="free")).unresolved == "unsupported_definition"


@pytest.mark.parametrize("bad_filter", ["nope", {"value": 1}, {"key": "p", "operator": 3}])
def test_a_malformed_filter_is_unsupported(bad_filter):
    assert run(flag("f", cond(bad_filter)), person(p=1)).unresolved == "unsupported_definition"
