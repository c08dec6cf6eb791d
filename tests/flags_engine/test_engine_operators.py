"""Operator facts from spec 6.4, one table per operator family.

Each row: filter value, property value (``...`` = absent), expected result, where a
result is True/False or the ``unresolved`` kind of an inconclusive evaluation.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
from flagengine_builders import op

from posthog._flags.operators import OPERATORS

MISSING = "missing_context"
UNSUPPORTED = "unsupported_definition"

EXACT_ROWS = [
    # filter, property, v1, v2
    ("x", "X", True, True),
    ("Ä", "ä", True, True),
    ("ΟΔΟΣ", "οδος", True, True),
    ("İ", "i̇", True, True),
    ("ß", "ss", False, False),
    (1, "1", True, True),
    ("1", 1, True, True),
    ("323.0", 323.0, True, True),
    ("1e-7", 1e-7, True, True),
    ("1e+16", 1e16, True, True),
    ("0.00001", 1e-5, True, True),
    ("0.000015", 1.5e-5, True, True),
    ("1000000000000000.0", 1e15, True, True),
    (True, "true", True, True),
    (True, "TRUE", True, True),
    (True, True, True, True),
    ("true", True, True, True),
    (False, "banana", True, False),
    (False, 0, True, False),
    (False, None, True, False),
    ("false", "", True, False),
    (False, False, True, True),
    (True, "yes", False, False),
    (["true"], True, True, True),
    (["a", "b"], "B", True, True),
    (["1", "2"], 2, True, True),
    (["x"], "y", False, False),
    ([], True, True, True),
    ([], "x", False, False),
    ([], ["true", True], True, True),
    (None, None, True, True),
    ("null", None, True, True),
    ('["a","b"]', ["a", "b"], True, True),
    ('{"a":2,"b":1}', {"b": 1, "a": 2}, True, True),
    ('[1.0,"ü"]', [1.0, "ü"], True, True),
    ("x", math.nan, MISSING, MISSING),
    (math.inf, "inf", UNSUPPORTED, UNSUPPORTED),
]


@pytest.mark.parametrize(("filter_value", "prop_value", "v1", "v2"), EXACT_ROWS)
def test_exact_and_is_not_by_matching_version(filter_value, prop_value, v1, v2):
    assert op("exact", filter_value, prop_value) == v1
    assert op("exact", filter_value, prop_value, version=2) == v2
    negated = {True: False, False: True}
    assert op("is_not", filter_value, prop_value) == negated.get(v1, v1)
    assert op("is_not", filter_value, prop_value, version=2) == negated.get(v2, v2)


@pytest.mark.parametrize("operator", sorted(OPERATORS))
def test_missing_property_is_inconclusive_for_every_operator(operator):
    valid_value = {
        "gt": 1,
        "gte": 1,
        "lt": 1,
        "lte": 1,
        "is_date_before": "2024-01-01",
        "is_date_after": "2024-01-01",
    }.get(operator, "1.2.3" if operator.startswith("semver") else "x")
    if operator == "semver_wildcard":
        valid_value = "1.*"
    assert op(operator, valid_value) == MISSING
    # On the server every stored property is known: absent is a plain non-match.
    assert op(operator, valid_value, server_side=True) is (operator == "is_not_set")


def test_unusable_filter_reason_wins_over_missing_property():
    assert op("gt", "abc") == UNSUPPORTED
    assert op("is_date_exact", "2024-01-01") == UNSUPPORTED
    assert op("bogus", "x", "x") == UNSUPPORTED


@pytest.mark.parametrize("prop_value", [None, "", [], 0, False, "x"])
def test_presence_operators_on_present_values(prop_value):
    assert op("is_set", "", prop_value) is True
    assert op("is_not_set", "", prop_value) is False


NUMERIC_ROWS = [
    ("gt", 5, "6", True),
    ("gt", "5", 6, True),
    ("gt", "5.0", "5", False),
    ("gte", "5", 5, True),
    ("lt", 10, "9.99", True),
    ("lte", 10, 10.0, True),
    ("lt", "1e3", 999, True),
    ("gt", ".5", "0.6", True),
    ("gt", "-1", "+0", True),
    ("gt", 9007199254740992, 9007199254740993, False),
    ("gt", 5, "abc", False),
    ("gt", 5, None, False),
    ("gt", 5, True, False),
    ("gt", 5, " 6", False),
    ("gt", 5, "0x10", False),
    ("gt", 5, "1_0", False),
    ("gt", 5, "NaN", False),
    ("gt", 5, "Infinity", False),
    ("gt", 5, "1e999", False),
    ("lt", 5, 10**400, False),
    ("gt", "abc", 6, UNSUPPORTED),
    ("gt", True, 6, UNSUPPORTED),
    ("gt", None, 6, UNSUPPORTED),
    ("gt", "NaN", 6, UNSUPPORTED),
    ("gt", " 5", 6, UNSUPPORTED),
    ("gt", math.inf, 6, UNSUPPORTED),
]


@pytest.mark.parametrize(("operator", "filter_value", "prop_value", "expected"), NUMERIC_ROWS)
def test_numeric_operators_are_numeric_only(operator, filter_value, prop_value, expected):
    assert op(operator, filter_value, prop_value) == expected


TEXT_ROWS = [
    ("icontains", "AB", "xaby", True),
    ("icontains", "Äb", "äb", False),
    ("icontains", "nul", None, True),
    ("icontains", "1.0", 1.0, True),
    ("icontains", "TRUE", True, True),
    ("not_icontains", "AB", "xaby", False),
    ("not_icontains", "zz", "xaby", True),
    ("starts_with", "Ab", "abc", True),
    ("starts_with", "b", "abc", False),
    ("not_starts_with", "b", "abc", True),
    ("ends_with", "BC", "abc", True),
    ("not_ends_with", "BC", "abc", False),
    ("icontains", "x", math.nan, MISSING),
]


@pytest.mark.parametrize(("operator", "filter_value", "prop_value", "expected"), TEXT_ROWS)
def test_text_operators_use_ascii_lowercase(operator, filter_value, prop_value, expected):
    assert op(operator, filter_value, prop_value) == expected


REGEX_ROWS = [
    # pattern, property, SDK result, server_side result
    ("^a", "abc", True, True),
    ("b", "abc", True, True),
    ("^b", "abc", False, False),
    ("a$", "a\n", False, False),
    ("a$", "a", True, True),
    ("(?m)a$", "a\nb", True, True),
    ("a\\z", "a", True, True),
    ("", "anything", True, True),
    ("[", "x", False, False),
    ("a{2,1}", "aa", False, False),
    ("null", None, True, True),
    ("1", 1, True, True),
    ("\\d+", "123", True, True),
    ("\\d+", "١٢٣", UNSUPPORTED, True),
    ("\\w", "é", UNSUPPORTED, True),
    ("\\s", "\x1c", UNSUPPORTED, True),
    ("(?i)abc", "ABC", True, True),
    ("(?i)k", "\u212a", UNSUPPORTED, True),
    ("(?<name>a)", "a", True, True),
    ("(?P<name>a)", "a", True, True),
    ("a{2}", "aa", True, True),
    ("[]a]", "]", True, True),
    ("\\bfoo", "foo", UNSUPPORTED, True),
    ("(?=a)a", "a", UNSUPPORTED, True),
    ("(?<!b)a", "a", UNSUPPORTED, True),
    ("(a)\\1", "aa", UNSUPPORTED, True),
    ("(a+)+$", "aaa", UNSUPPORTED, True),
    ("a*+", "aaa", UNSUPPORTED, True),
    ("(?>a)", "a", UNSUPPORTED, True),
    ("[a-z&&[^b]]", "a", UNSUPPORTED, False),
    ("[[:alpha:]]", "a", UNSUPPORTED, False),
    ("\\p{L}", "a", UNSUPPORTED, False),
    ("a(?i)b", "aB", UNSUPPORTED, False),
    ("x{", "x{", UNSUPPORTED, True),
]


@pytest.mark.parametrize(("pattern", "prop_value", "sdk", "server"), REGEX_ROWS)
def test_regex_rust_compatibility(pattern, prop_value, sdk, server):
    assert op("regex", pattern, prop_value) == sdk
    assert op("regex", pattern, prop_value, server_side=True) == server


@pytest.mark.parametrize(("pattern", "prop_value", "sdk", "server"), REGEX_ROWS)
def test_not_regex_is_the_complement_except_for_invalid_patterns(pattern, prop_value, sdk, server):
    python_rejects = pattern in ("[", "a{2,1}", "\\p{L}", "a(?i)b")
    for mode, expected in ((False, sdk), (True, server)):
        result = op("not_regex", pattern, prop_value, server_side=mode)
        if python_rejects and isinstance(expected, bool):
            assert result is False
        elif isinstance(expected, bool):
            assert result is (not expected)
        else:
            assert result == expected


DATE_ROWS = [
    # operator, filter, property, expected  (now = 2024-03-31T12:00Z)
    ("is_date_before", "2024-03-01", "2024-02-29", True),
    ("is_date_before", "2024-03-01", "2024-03-02", False),
    ("is_date_before", "2024-03-01", "2024-03-01", False),
    ("is_date_after", "2024-03-01", "2024-03-01", False),
    ("is_date_before", "2024-03-01", dt.datetime(2024, 2, 1), True),
    ("is_date_before", "2024-03-01", dt.datetime(2024, 3, 1, 1, tzinfo=dt.timezone.utc), False),
    ("is_date_before", "2024-03-02", dt.date(2024, 3, 1), True),
    ("is_date_after", "2024-03-02T23:00:00", dt.date(2024, 3, 2), False),
    ("is_date_after", "-1d", "2024-03-30T12:00:01Z", True),
    ("is_date_after", "1d", "2024-03-30T11:59:59Z", False),
    ("is_date_after", "-3h", "2024-03-31T09:30:00Z", True),
    ("is_date_after", "-1w", "2024-03-24T11:00:00Z", False),
    ("is_date_after", "-1m", "2024-02-29T12:00:01Z", True),
    ("is_date_after", "-1m", "2024-02-29T11:59:59Z", False),
    ("is_date_after", "-2m", "2024-01-29T12:00:01Z", True),
    ("is_date_after", "-1y", "2023-03-31T12:00:01Z", True),
    ("is_date_before", "-1y", "2023-03-31T11:00:00Z", True),
    ("is_date_after", "2023", "2023-04-01", True),
    ("is_date_after", "2023", "2023-03-30", False),
    ("is_date_before", "2024-03-01T10:00:00Z", "2024-03-01T09:59:59+00:00", True),
    ("is_date_before", "2024-03-01 10:00:00 UTC", "2024-03-01T09:59:59Z", True),
    ("is_date_before", "2024-03-01T10:00:00 +02:00", "2024-03-01T08:00:00Z", False),
    ("is_date_before", "2024-03-01T10:00:00 +02:00", "2024-03-01T07:59:59Z", True),
    ("is_date_before", "2024-03-01T10:00:00.5+00:00", "2024-03-01T10:00:00.25Z", True),
    ("is_date_before", "2024-03-01", None, False),
    ("is_date_before", "2024-03-01", "yesterday", MISSING),
    ("is_date_before", "2024-03-01", 1709251200, MISSING),
    ("is_date_before", "2024-03-01", True, MISSING),
    ("is_date_before", "10000d", "2024-01-01", UNSUPPORTED),
    ("is_date_before", "-1x", "2024-01-01", UNSUPPORTED),
    ("is_date_before", "banana", "2024-01-01", UNSUPPORTED),
    ("is_date_before", "2024-13-01", "2024-01-01", UNSUPPORTED),
    ("is_date_before", 20240101, "2024-01-01", UNSUPPORTED),
]


@pytest.mark.parametrize(("operator", "filter_value", "prop_value", "expected"), DATE_ROWS)
def test_date_operators_at_frozen_now(operator, filter_value, prop_value, expected):
    assert op(operator, filter_value, prop_value) == expected


def test_unparseable_date_property_is_a_non_match_on_the_server():
    assert op("is_date_before", "2024-03-01", "yesterday", server_side=True) is False


SEMVER_ROWS = [
    ("semver_eq", "1.2.3", "v1.2.3", True),
    ("semver_eq", "1.2", "1.2.0", True),
    ("semver_eq", "1", "1.0.0", True),
    ("semver_eq", "1.2.3", " V1.2.3 ", True),
    ("semver_eq", "1.2.3", "1.2.3-beta.1", True),
    ("semver_eq", "1.2.3", "1.2.3+build.5", True),
    ("semver_neq", "1.2.3", "1.2.4", True),
    ("semver_gt", "1.2.3", "1.10.0", True),
    ("semver_gt", "1.2.3", "1.2.3", False),
    ("semver_gte", "1.2.3", "1.2.3", True),
    ("semver_lt", "2.0.0", "1.99.99", True),
    ("semver_lte", "2.0.0", "2.0.1", False),
    # the range operators take a bare version: "1.2.3" under semver_tilde means ~1.2.3
    ("semver_tilde", "1.2.3", "1.2.9", True),
    ("semver_tilde", "1.2.3", "1.3.0", False),
    ("semver_tilde", "1.2.3", "1.2.2", False),
    ("semver_caret", "1.2.3", "1.9.0", True),
    ("semver_caret", "1.2.3", "2.0.0", False),
    ("semver_caret", "0.2.3", "0.2.9", True),
    ("semver_caret", "0.2.3", "0.3.0", False),
    ("semver_caret", "0.0.3", "0.0.3", True),
    ("semver_caret", "0.0.3", "0.0.4", False),
    ("semver_wildcard", "1.*", "1.99.0", True),
    ("semver_wildcard", "1.*", "2.0.0", False),
    ("semver_wildcard", "1.2.*", "1.2.7", True),
    ("semver_wildcard", "1.2.*", "1.3.0", False),
    ("semver_eq", "01.2.3", "1.2.3", UNSUPPORTED),
    ("semver_eq", "banana", "1.2.3", UNSUPPORTED),
    ("semver_wildcard", "*.1", "1.2.3", UNSUPPORTED),
    ("semver_eq", "1.2.3", "1.02.3", MISSING),
    ("semver_eq", "1.2.3", "abc", MISSING),
    ("semver_eq", "1.2.3", "", MISSING),
    ("semver_eq", "1.2.3", None, False),
]


@pytest.mark.parametrize(("operator", "filter_value", "prop_value", "expected"), SEMVER_ROWS)
def test_semver_operators(operator, filter_value, prop_value, expected):
    assert op(operator, filter_value, prop_value) == expected


def test_invalid_semver_property_is_a_non_match_on_the_server():
    assert op("semver_eq", "1.2.3", "abc", server_side=True) is False


@pytest.mark.parametrize(
    ("filter_value", "expected"), [("-9999y", True), ("-9999m", True), ("9999h", True)]
)
def test_extreme_relative_dates_stay_conclusive(filter_value, expected):
    assert op("is_date_after", filter_value, "2024-01-01") is expected


def test_bare_year_month_takes_todays_day():
    # now is 2024-03-31: "2023-02" means 2023-02-28 (clamped), midnight UTC.
    assert op("is_date_after", "2023-02", "2023-02-28T00:00:01Z") is True
    assert op("is_date_after", "2023-02", "2023-02-27T23:59:59Z") is False
