"""More facts from the differential run against the reference SDK 7.91.1 (spec 6.4
steps 8 and 10), and the dev server's regexes reading the same on Python 3.10 and 3.11+.
Each test failed before its fix; rows marked "unchanged" guard the behaviour around it.

A result is True/False, or the ``unresolved`` kind of an inconclusive evaluation.
"""

from __future__ import annotations

import re
import sys

import pytest
from flagengine_builders import op
from hypothesis import given, settings
from hypothesis import strategies as st

from posthog._flags.regex_python import server_pattern

UNSUPPORTED = "unsupported_definition"

# --- 1. a regex filter that is not a string is read with Python's str() -----------------

NON_STRING_PATTERNS = [
    # filter, property, regex result (SDK and dev server alike)
    (None, None, False),  # pattern "None", property "null"
    (None, "None", True),
    (True, True, False),  # pattern "True", property "true"
    (True, "True", True),
    (False, "false", False),
    (False, "False", True),
    (["a", "b"], "'", True),  # the class ['a', 'b'] holds a quote ...
    (["a", "b"], '"', False),  # ... and no double quote
    (["true"], {"a": 1}, False),  # property text {"a":1}: no ', t, r, u, e
    ([1, 2], " ", True),  # [1, 2] has a space
    ([1, 2], ",", True),
    (1e-7, "1e-07", True),  # str(1e-7), not the JSON text 1e-7
    (1e-7, "1e-7", False),
    # unchanged: numbers print the same either way; a dict starts with a literal brace
    (1, 1, True),
    (1.5, "x1.5", True),
    (0, 10, True),
    ({"a": 1}, "{'a': 1}", UNSUPPORTED),
]


@pytest.mark.parametrize(("filter_value", "prop_value", "expected"), NON_STRING_PATTERNS)
def test_non_string_regex_filter_reads_as_python_str(filter_value, prop_value, expected):
    negated = expected if expected == UNSUPPORTED else not expected
    assert op("regex", filter_value, prop_value) == expected
    assert op("not_regex", filter_value, prop_value) == negated
    if expected != UNSUPPORTED:
        assert op("regex", filter_value, prop_value, server_side=True) is expected


@pytest.mark.parametrize("pattern", [[], "[]", "[^]"])
def test_a_class_opening_on_its_own_bracket_and_never_closed_defers(pattern):
    # str([]) is "[]": an empty class to some engines, unterminated to Rust and Python.
    assert op("regex", pattern, "x") == UNSUPPORTED
    assert op("not_regex", pattern, "x") == UNSUPPORTED
    assert op("regex", pattern, "x", server_side=True) is False  # unterminated in ``re``
    assert op("regex", "[]a]", "]") is True  # unchanged: a closed class is decided
    assert op("regex", "[", "[") is False  # unchanged: invalid for everyone


# --- 2. semver range operators take a bare version ------------------------------------

SEMVER_PREFIXES = [
    ("semver_tilde", "~1.2.3", "1.2.9", UNSUPPORTED),
    ("semver_tilde", "~1.2.3", "1.3.0", UNSUPPORTED),
    ("semver_tilde", " ~1.2.3", "1.2.3", UNSUPPORTED),
    ("semver_tilde", "~~1.2.3", "1.2.3", UNSUPPORTED),
    ("semver_tilde", "~v1.2.3", "1.2.3", UNSUPPORTED),
    ("semver_caret", "^0.2.3", "0.2.9", UNSUPPORTED),
    ("semver_caret", "^0.2.3", "0.3.0", UNSUPPORTED),
    ("semver_caret", "^1.2.3", "1.9.0", UNSUPPORTED),
    ("semver_caret", "^v1", "1.0.0", UNSUPPORTED),
    # unchanged: bare and v-prefixed versions; a present None property; wildcard forms
    ("semver_tilde", "1.2.3", "1.2.9", True),
    ("semver_tilde", " v1.2.3 ", "1.3.0", False),
    ("semver_caret", "0.2.3", "0.2.9", True),
    ("semver_caret", "V1.2.3", "2.0.0", False),
    ("semver_tilde", "~1.2.3", None, False),
    ("semver_wildcard", "v1.*", "1.9.9", True),
    ("semver_wildcard", " 1.2.* ", "1.3.0", False),
    ("semver_wildcard", "~1.*", "1.0.0", UNSUPPORTED),
    ("semver_wildcard", "1.2", "1.2.5", UNSUPPORTED),  # the reference decides; we defer
]


@pytest.mark.parametrize(("operator", "filter_value", "prop_value", "expected"), SEMVER_PREFIXES)
def test_semver_range_filter_with_its_own_prefix_goes_to_the_server(
    operator, filter_value, prop_value, expected
):
    assert op(operator, filter_value, prop_value) == expected


# --- 3. the dev server reads deferred regexes as Python 3.11+ does, on 3.10 too --------

SERVER_REGEXES = [
    # pattern, property, dev server result: what Python 3.11+ ``re`` says
    ("a*+", "aaa", True),
    ("a*+a", "aaa", False),  # possessive: gives nothing back
    ("(?>a)", "a", True),
    ("(?>a|ab)c", "abc", False),  # atomic: keeps its first choice
    ("(?>a)*b", "aab", True),
    ("\\d++\\w", "12a", True),
    ("[ab]{2,}+b", "abab", False),
    ("\\x41?+A", "A", False),
    ("(?:a|b)++c", "abc", True),
    ("(x)(?>(a)b)\\2", "xaba", True),  # references move past the inserted group
    ("(a)*+\\1", "aa", False),
    ("((?>a+))b\\1", "aaba", True),
    ("(?>(a))(?(2)x|y)(b)", "ayb", True),
    ("(?P<n>a)*+(?P=n)", "aa", False),
    ("(?x) a *+ a  # verbose", "aa", False),
    ("a(?i)b", "aB", False),  # global flags only at the very start
    ("a|(?i)b", "B", False),
    ("((?i)b)", "B", False),
    ("(?i)(?m)b$", "B", True),
    ("(?#note)(?i)b", "B", True),
    ("a*+*", "a", False),  # invalid: multiple repeat
    ("*+", "a", False),  # invalid: nothing to repeat
    ("(?<=a)b", "ab", True),  # unchanged: lookarounds
    ("(a)\\1", "aa", True),
]


@pytest.mark.parametrize(("pattern", "prop_value", "expected"), SERVER_REGEXES)
def test_dev_server_regex_answers_do_not_depend_on_the_python_version(
    pattern, prop_value, expected
):
    assert op("regex", pattern, prop_value) == UNSUPPORTED  # the SDK defers all of them
    assert op("regex", pattern, prop_value, server_side=True) is expected
    invalid = pattern in ("a(?i)b", "a|(?i)b", "((?i)b)", "a*+*", "*+")
    assert op("not_regex", pattern, prop_value, server_side=True) is (not expected and not invalid)


NATIVE = sys.version_info >= (3, 11)


@pytest.mark.skipif(not NATIVE, reason="the oracle is Python 3.11+'s own re")
@pytest.mark.parametrize(("pattern", "prop_value", "expected"), SERVER_REGEXES)
def test_server_regex_table_is_what_python_311_says(pattern, prop_value, expected):
    try:
        native = re.search(pattern, prop_value) is not None
    except re.error:
        native = False
    assert native is expected


PIECES = ["a", "b", "ab", ".", "[ab]", "\\w", "(", "(?:", "(?>", "(?P<g>", ")", "|"]
REPEATS = ["", "", "*", "+", "?", "{2}", "{1,}", "*?", "*+", "++", "?+", "{1,2}+"]


@st.composite
def patterns(draw):
    size = draw(st.integers(1, 8))
    parts = [draw(st.sampled_from(PIECES)) + draw(st.sampled_from(REPEATS)) for _ in range(size)]
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from(["\\1", "\\2", "(?P=g)", "(?(1)a|b)"])))
    return "".join(parts)


@pytest.mark.skipif(not NATIVE, reason="the oracle is Python 3.11+'s own re")
@settings(max_examples=300, deadline=None)
@given(patterns(), st.text(alphabet="ab", max_size=6))
def test_rewritten_possessive_and_atomic_forms_match_like_python_311(pattern, subject):
    try:
        native = re.compile(pattern)
    except re.error:
        native = None
    rewritten = server_pattern(pattern)
    if native is None:
        if rewritten is not None:
            with pytest.raises(re.error):
                re.compile(rewritten)
        return
    assert rewritten is not None
    assert (re.search(rewritten, subject) is None) is (native.search(subject) is None)
