"""Cohorts (spec 6.5) and flag dependencies (spec 6.6)."""

from __future__ import annotations

import pytest
from flagengine_builders import cohort, cond, depends, flag, flagset, person, prop

from posthog._flags.evaluator import evaluate, evaluate_all


def group(kind: str, *values: dict) -> dict:
    return {"type": kind, "values": list(values)}


COHORTS = {
    "1": group("AND", group("OR", prop("plan", "exact", "pro"), prop("plan", "exact", "team"))),
    "2": group("AND", prop("country", "exact", "FR", negation=True), prop("age", "gt", 18)),
    "3": group("OR", cohort(1), prop("vip", "exact", True)),
    "4": {},
    "5": group("AND", cohort(6)),
    "6": group("AND", cohort(5)),
    "7": {"type": "XOR", "values": []},
    "8": group("OR", prop("plan", "exact", "pro"), prop("unknown", "exact", 1)),
    "9": group("AND", prop("plan", "exact", "pro"), prop("unknown", "exact", 1)),
}


def in_cohort(cohort_spec: dict, server_side: bool = False, **props):
    flags = flagset(flag("c", cond(cohort_spec)), cohorts=COHORTS)
    result = evaluate(flags, "c", person(**props), server_side=server_side)
    return result.unresolved if result.value is None else result.value


@pytest.mark.parametrize(
    ("cohort_spec", "props", "expected"),
    [
        (cohort(1), {"plan": "team"}, True),
        (cohort(1), {"plan": "free"}, False),
        (cohort(1, "exact"), {"plan": "pro"}, True),
        (cohort(1, "not_in"), {"plan": "pro"}, False),
        (cohort(1, "not_in"), {"plan": "free"}, True),
        (cohort(2), {"country": "DE", "age": 30}, True),
        (cohort(2), {"country": "FR", "age": 30}, False),
        (cohort(2), {"country": "DE", "age": 3}, False),
        (cohort(3), {"plan": "free", "vip": True}, True),
        (cohort(3), {"plan": "pro"}, True),
        (cohort("3"), {"plan": "free", "vip": False}, False),
        (cohort(4), {}, True),
        (cohort(8), {"plan": "pro"}, True),
        (cohort(8), {"plan": "free"}, "missing_context"),
        (cohort(9), {"plan": "free"}, False),
        (cohort(9), {"plan": "pro"}, "missing_context"),
        (cohort(9, "not_in"), {"plan": "free"}, True),
        (cohort(5), {}, "unsupported_definition"),
        (cohort(7), {}, "requires_server"),
        (cohort(1, "gt"), {"plan": "pro"}, "unsupported_definition"),
        (cohort(404), {"plan": "pro"}, "requires_server"),
    ],
)
def test_cohort_membership(cohort_spec, props, expected):
    assert in_cohort(cohort_spec, **props) == expected


def test_static_cohort_goes_to_the_server_even_if_a_later_condition_matches():
    flags = flagset(flag("c", cond(cohort(404)), cond()), cohorts=COHORTS)
    assert evaluate(flags, "c", person()).unresolved == "requires_server"


def test_static_cohort_after_an_inconclusive_filter_keeps_the_first_reason():
    flags = flagset(flag("c", cond(prop("plan", "exact", 1), cohort(404)), cond()), cohorts=COHORTS)
    assert evaluate(flags, "c", person()).condition_index == 1


def test_unknown_cohort_is_a_non_match_on_the_server():
    assert in_cohort(cohort(404), server_side=True, plan="pro") is False


# --- dependencies -------------------------------------------------------------------------


def chain_flags(parent_value, expected, **parent_kw):
    return flagset(
        flag("parent", cond(rollout=100 if parent_value else 0), **parent_kw),
        flag("child", cond(depends("parent", expected, ["parent"]))),
    )


@pytest.mark.parametrize(
    ("parent_on", "expected", "child"),
    [(True, True, True), (True, False, False), (False, False, True), (False, True, False)],
)
def test_boolean_dependencies(parent_on, expected, child):
    assert evaluate(chain_flags(parent_on, expected), "child", person()).value is child


def test_inactive_dependency_is_false():
    flags = chain_flags(True, False, active=False)
    assert evaluate(flags, "child", person()).value is True


@pytest.mark.parametrize(
    ("expected", "child"), [(True, True), ("b", True), ("a", False), ("B", False), (False, False)]
)
def test_variant_dependencies(expected, child):
    flags = flagset(
        flag("parent", cond(variant="b"), variants={"a": 50, "b": 50}),
        flag("child", cond(depends("parent", expected))),
    )
    assert evaluate(flags, "child", person()).value is child


def test_dependency_chain_of_three():
    flags = flagset(
        flag("a", cond(prop("plan", "exact", "pro"))),
        flag("b", cond(depends("a", True, ["a"]))),
        flag("c", cond(depends("b", True, ["a", "b"]))),
    )
    assert evaluate(flags, "c", person(plan="pro")).value is True
    assert evaluate(flags, "c", person(plan="free")).value is False
    assert evaluate(flags, "c", person()).unresolved == "unresolved_dependency"
    every = evaluate_all(flags, person(plan="pro"))
    assert [every[k].value for k in "abc"] == [True, True, True]


@pytest.mark.parametrize(
    ("filter_spec", "expected"),
    [
        (depends("ghost", True, ["ghost"]), "unsupported_definition"),
        (depends("parent", True, ["ghost", "parent"]), "unsupported_definition"),
        (depends("parent", True, []), "unresolved_dependency"),
        ({**depends("parent", True), "dependency_chain": None}, "unresolved_dependency"),
        ({**depends("parent", True), "operator": "exact"}, False),
        (depends("parent", None), False),
        ({**depends("parent", True), "key": None}, False),
    ],
)
def test_malformed_or_missing_dependencies(filter_spec, expected):
    flags = flagset(flag("parent"), flag("child", cond(filter_spec)))
    result = evaluate(flags, "child", person())
    assert (result.unresolved if result.value is None else result.value) == expected


def test_circular_dependencies_are_inconclusive_not_infinite():
    flags = flagset(
        flag("a", cond(depends("b", True, ["a", "b"]))),
        flag("b", cond(depends("a", True, ["b", "a"]))),
    )
    assert evaluate(flags, "a", person()).unresolved == "unresolved_dependency"
    assert {r.unresolved for r in evaluate_all(flags, person()).values()} == {
        "unresolved_dependency"
    }


def test_dependency_on_experience_continuity_flag_is_inconclusive():
    flags = chain_flags(True, True, ensure_experience_continuity=True)
    assert evaluate(flags, "child", person()).unresolved == "unresolved_dependency"
    assert evaluate(flags, "child", person(), server_side=True).value is True


def test_static_cohort_inside_a_dependency_still_needs_the_server():
    flags = flagset(flag("parent", cond(cohort(404))), flag("child", cond(depends("parent", True))))
    assert evaluate(flags, "child", person()).unresolved == "requires_server"


def test_device_bucketed_dependency_uses_its_own_identifier():
    parent = flag("parent", cond(rollout=0), bucketing_identifier="device_id")
    flags = flagset(parent, flag("child", cond(depends("parent", False))))
    assert evaluate(flags, "child", person()).unresolved == "unresolved_dependency"
    assert evaluate(flags, "child", person(device_id="dev-1")).value is True


def test_flag_filters_inside_cohorts():
    flags = flagset(
        flag("parent", cond(prop("plan", "exact", "pro"))),
        flag("child", cond(cohort(1))),
        cohorts={"1": group("AND", depends("parent", True))},
    )
    assert evaluate(flags, "child", person(plan="pro")).value is True
    assert evaluate(flags, "child", person(plan="free")).value is False
