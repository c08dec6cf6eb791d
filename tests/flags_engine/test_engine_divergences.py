"""Facts where a differential run against the reference SDK 7.91.1 found our engine
answering differently from spec 6.4-6.6. Each test failed before its fix; rows and
tests that say "unchanged" or "still" guard the behaviour around it.

A result is True/False, or the ``unresolved`` kind of an inconclusive evaluation
(``value`` None: the flag goes to the server, or is None when evaluating locally only).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from enum import IntEnum

import pytest
from flagengine_builders import cohort, cond, depends, flag, flagset, op, oracle_hash, person, prop

from posthog._flags.evaluator import Subject, evaluate, evaluate_all

MISSING = "missing_context"
UNSUPPORTED = "unsupported_definition"
SERVER = "requires_server"
IDS = [f"id-{n}" for n in range(60)]


def outcome(flags, key, subject, **kw):
    result = evaluate(flags, key, subject, **kw)
    return result.unresolved if result.value is None else result.value


# --- 1. cohorts (spec 6.5): static and malformed pieces need the server at any depth ------


def group(kind, *values):
    return {"type": kind, "values": list(values)}


FALSE = prop("plan", "exact", "nope")  # False for every subject below
TRUE = prop("plan", "exact", "pro")
STATIC = cohort(404)
NOT_A_DICT = "junk"
BAD_TYPE = {"type": "XOR", "values": [TRUE]}
BAD_VALUES = {"type": "AND", "values": {"0": TRUE}}


@pytest.mark.parametrize("bad", [STATIC, NOT_A_DICT, BAD_TYPE, BAD_VALUES])
@pytest.mark.parametrize(
    "definition",
    [
        # a deciding entry first: False in AND, True in OR
        lambda bad: group("AND", FALSE, bad),
        lambda bad: group("OR", TRUE, bad),
        # one level down, after a decided sibling group
        lambda bad: group("AND", group("AND", FALSE), group("OR", bad)),
        lambda bad: group("OR", group("OR", TRUE), group("AND", FALSE, bad)),
        # two levels down, through a referenced cohort and a negation
        lambda bad: group("AND", FALSE, group("OR", group("AND", cohort(2)))),
        lambda bad: group("AND", {**cohort(2), "negation": True}, FALSE),
    ],
)
def test_static_or_malformed_cohort_pieces_need_the_server(definition, bad):
    cohorts = {"1": definition(bad), "2": group("AND", bad)}
    flags = flagset(flag("c", cond(cohort(1)), cond()), cohorts=cohorts)
    assert outcome(flags, "c", person(plan="pro")) == SERVER
    negated = flagset(flag("c", cond(cohort(1, "not_in")), cond()), cohorts=cohorts)
    assert outcome(negated, "c", person(plan="pro")) == SERVER


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (group("AND", FALSE, prop("age", "gt", 1)), False),  # deciding beats inconclusive
        (group("OR", prop("age", "gt", 1), TRUE), True),
        (group("AND", group("OR", FALSE), prop("age", "gt", 1)), False),
        (group("AND", TRUE, prop("age", "gt", 1)), MISSING),
    ],
)
def test_a_deciding_cohort_entry_still_beats_an_inconclusive_one(definition, expected):
    flags = flagset(flag("c", cond(cohort(1))), cohorts={"1": definition})
    assert outcome(flags, "c", person(plan="pro")) == expected


@pytest.mark.parametrize("kind", ["AND", "OR"])
def test_an_empty_cohort_group_matches_whatever_its_kind(kind):
    flags = flagset(flag("c", cond(cohort(1))), cohorts={"1": group(kind)})
    assert outcome(flags, "c", person(plan="pro")) is True
    nested = {"1": group("AND", TRUE, group(kind))}
    nested_flags = flagset(flag("c", cond(cohort(1))), cohorts=nested)
    assert outcome(nested_flags, "c", person(plan="pro")) is True


def test_unknown_cohort_needs_the_server_even_with_an_unsupported_operator():
    cohorts = {"1": group("AND", TRUE)}
    flags = flagset(flag("c", cond(cohort(404, "gt")), cond()), cohorts=cohorts)
    assert outcome(flags, "c", person(plan="pro")) == SERVER
    known = flagset(flag("c", cond(cohort(1, "gt")), cond()), cohorts=cohorts)
    assert outcome(known, "c", person(plan="pro")) is True  # only this condition is unusable


def test_dev_server_still_treats_an_unknown_cohort_as_a_non_match():
    flags = flagset(flag("c", cond(cohort(1))), cohorts={"1": group("OR", TRUE, STATIC)})
    assert outcome(flags, "c", person(plan="pro"), server_side=True) is True
    flags = flagset(flag("c", cond(cohort(1))), cohorts={"1": group("AND", TRUE, STATIC)})
    assert outcome(flags, "c", person(plan="pro"), server_side=True) is False


# --- 2. spec 6.4 step 5: a None property is False for dates/semver before the filter is read


@pytest.mark.parametrize(
    ("operator", "value", "prop_value", "expected"),
    [
        ("is_date_before", "banana", None, False),
        ("is_date_after", "-5x", None, False),
        ("is_date_after", 12, None, False),
        ("semver_gt", "not.a.version", None, False),
        ("semver_tilde", "01.2", None, False),
        ("semver_wildcard", None, None, False),
        # unchanged around it: absent key, usable property, unknown operator, numbers
        ("is_date_before", "banana", ..., UNSUPPORTED),
        ("is_date_before", "banana", "2024-01-01", UNSUPPORTED),
        ("semver_gt", "not.a.version", "1.2.3", UNSUPPORTED),
        ("semver_gt", "not.a.version", ..., UNSUPPORTED),
        ("is_date_exact", "2024-01-01", None, UNSUPPORTED),
        ("gt", "banana", None, UNSUPPORTED),
    ],
)
def test_none_property_with_an_unusable_date_or_semver_filter(
    operator, value, prop_value, expected
):
    assert op(operator, value, prop_value) == expected
    assert op(operator, value, prop_value, server_side=True) == expected


# --- 3 and 4. values the backend cannot render as JSON text are inconclusive ------------

NON_FINITE = [math.nan, math.inf, -math.inf, [1, math.nan], {"a": math.inf}]
NOT_JSON = [
    {1, 2},
    frozenset(),
    b"pro",
    bytearray(b"pro"),
    dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    dt.date(2024, 1, 1),
    decimal.Decimal("1.5"),
    object(),
    ["pro", {"pro"}],
    {"a": b"x"},
    {("a",): 1},
    ("pro",),  # JSON arrays are lists only
    {None: 1},  # JSON object keys are strings only
    {"a": {1: "x"}},
]
STRINGIFYING = [
    ("exact", "pro"),
    ("exact", True),  # v1 boolean shortcut
    ("exact", "false"),
    ("exact", []),  # truthiness
    ("exact", ["pro", "team"]),
    ("is_not", "pro"),
    ("is_not", False),
    ("is_not", []),
    ("icontains", "pro"),
    ("not_icontains", "pro"),
    ("starts_with", "p"),
    ("not_ends_with", "o"),
    ("regex", "^p"),
    ("not_regex", "^p"),
    ("regex", ""),  # empty pattern
    ("not_regex", "("),  # invalid pattern
]


@pytest.mark.parametrize(("operator", "value"), STRINGIFYING)
@pytest.mark.parametrize("prop_value", NON_FINITE + NOT_JSON, ids=lambda v: type(v).__name__)
def test_unrenderable_property_values_are_inconclusive(operator, value, prop_value):
    assert op(operator, value, prop_value) == MISSING
    assert op(operator, value, prop_value, version=2) == MISSING


@pytest.mark.parametrize(
    ("operator", "value", "prop_value", "expected"),
    [
        ("exact", '{"a":[1,"x"],"b":null}', {"b": None, "a": [1, "x"]}, True),
        ("exact", "1", IntEnum("E", "A")(1), True),
        ("is_date_before", "2024-03-01", dt.datetime(2024, 2, 1), True),
        ("is_date_after", "2024-03-01", dt.date(2024, 3, 2), True),
        ("exact", "pro", "pro", True),
    ],
)
def test_json_values_and_dates_under_date_operators_still_work(
    operator, value, prop_value, expected
):
    assert op(operator, value, prop_value) == expected


def test_unrenderable_values_stay_a_non_match_on_the_dev_server():
    assert op("exact", True, math.nan, server_side=True) is False
    assert op("regex", "", {1}, server_side=True) is False


# --- 5. dependencies (spec 6.6, 6.3) ------------------------------------------------------


def test_dependency_on_a_flag_with_an_unmapped_group_type_is_evaluated_here():
    parent = flag("parent", cond(prop("plan", "exact", "pro"), rollout=50), group=7)
    flags = flagset(parent, flag("child", cond(depends("parent", True))))
    assert outcome(flags, "parent", person(plan="pro")) == UNSUPPORTED  # on its own: server
    for distinct_id in IDS:
        expected = oracle_hash("parent", distinct_id) <= 0.5
        assert outcome(flags, "child", person(distinct_id, plan="pro")) is expected
    assert outcome(flags, "child", person(plan="free")) is False
    assert evaluate_all(flags, person("id-1", plan="pro"))["child"].value is (
        oracle_hash("parent", "id-1") <= 0.5
    )


def company_member(distinct_id, key, device_id=None, **person_props):
    return Subject(
        distinct_id,
        device_id=device_id,
        groups={"company": key},
        group_properties={"company": {"$group_key": key, "tier": "gold"}},
        person_properties={"distinct_id": distinct_id, **person_props},
    )


def test_group_dependency_in_a_mixed_condition_buckets_by_the_person():
    parent = flag("parent", cond(rollout=50), group=0)  # company flag
    child = flag(
        "child", cond(prop("tier", "exact", "gold", kind="group"), depends("parent", True), group=0)
    )
    flags = flagset(parent, child)
    for n, distinct_id in enumerate(IDS):
        key = f"company-{n % 7}"
        expected = oracle_hash("parent", distinct_id) <= 0.5  # the person, not the company
        assert outcome(flags, "child", company_member(distinct_id, key)) is expected
    # the parent on its own, and as a dependency of a company flag, uses the company key
    company_child = flag("company-child", cond(depends("parent", True)), group=0)
    flags = flagset(parent, company_child)
    for n in range(40):
        key = f"company-{n}"
        expected = oracle_hash("parent", key) <= 0.5
        assert outcome(flags, "parent", company_member("someone", key)) is expected
        assert outcome(flags, "company-child", company_member("someone", key)) is expected


def test_group_dependency_of_a_device_bucketed_flag_buckets_by_the_distinct_id():
    parent = flag("parent", cond(rollout=50), group=0)
    child = flag("child", cond(depends("parent", True)), bucketing_identifier="device_id")
    flags = flagset(parent, child)
    for n, distinct_id in enumerate(IDS):
        subject = company_member(distinct_id, f"company-{n}", device_id=f"device-{n}")
        expected = oracle_hash("parent", distinct_id) <= 0.5
        assert outcome(flags, "child", subject) is expected


def test_person_dependency_of_a_group_flag_buckets_by_the_group_key():
    parent = flag("parent", cond(rollout=50))  # person flag bucketed by "distinct_id"
    flags = flagset(parent, flag("child", cond(depends("parent", True)), group=0))
    for n in range(40):
        key = f"company-{n}"
        expected = oracle_hash("parent", key) <= 0.5  # the group flag's distinct id
        assert outcome(flags, "child", company_member("someone", key)) is expected
