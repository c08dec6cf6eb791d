"""Hypothesis invariants: negation pairs are complements, nothing ever raises."""

from __future__ import annotations

from datetime import datetime, timezone

from flagengine_builders import NOW, cond, flag, flagset, op, prop
from hypothesis import given, settings
from hypothesis import strategies as st

from posthog._flags.evaluator import Subject, evaluate_all
from posthog._flags.model import parse_definitions
from posthog._flags.operators import OPERATORS

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["true", "FALSE", "1.2.3", "v2.0", "2024-01-01", "-3d", "null", ""]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
patterns = st.one_of(
    st.text(alphabet="ab()[]{}*+?|^$\\.dwsbz-&~:<>=!iP0123,", max_size=10),
    st.sampled_from(["^a", "a$", "\\d+", "(a|b)*", "[a-c]+", "(?i)ab", "\\bx", "(?=a)"]),
)
PAIRS = [
    ("exact", "is_not"),
    ("icontains", "not_icontains"),
    ("starts_with", "not_starts_with"),
    ("ends_with", "not_ends_with"),
    ("semver_eq", "semver_neq"),
    ("gt", "lte"),
    ("lt", "gte"),
]


def conclusive(result: object) -> bool:
    return isinstance(result, bool)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PAIRS), values, values, st.sampled_from([1, 2]))
def test_negation_pairs_are_complements_when_conclusive(pair, filter_value, prop_value, version):
    positive = op(pair[0], filter_value, prop_value, version=version)
    negative = op(pair[1], filter_value, prop_value, version=version)
    if not (conclusive(positive) and conclusive(negative)):
        return
    if pair[0] in ("gt", "lt") and positive is False and negative is False:
        return  # a non-numeric property is False for every numeric operator
    if pair[0] == "semver_eq" and prop_value is None and not positive and not negative:
        return  # spec 6.4 (5): a None property is False for semver operators, both ways
    assert positive is not negative


@settings(max_examples=300, deadline=None)
@given(patterns, values, st.booleans())
def test_regex_and_not_regex_are_complements_for_valid_patterns(pattern, prop_value, server_side):
    positive = op("regex", pattern, prop_value, server_side=server_side)
    negative = op("not_regex", pattern, prop_value, server_side=server_side)
    if conclusive(positive) and conclusive(negative) and (positive or negative):
        assert positive is not negative


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(OPERATORS)), values, values, st.booleans())
def test_evaluation_never_raises_on_arbitrary_values(
    operator, filter_value, prop_value, server_side
):
    result = op(operator, filter_value, prop_value, server_side=server_side)
    assert isinstance(result, bool) or result in {"missing_context", "unsupported_definition"}


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    "flags",
    "filters",
    "groups",
    "properties",
    "key",
    "value",
    "operator",
    "type",
    "values",
    "multivariate",
    "variants",
    "rollout_percentage",
    "active",
    "cohorts",
    "holdout",
    "aggregation_group_type_index",
    "dependency_chain",
    "payloads",
    "variant",
]
structured = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 200)
    | st.sampled_from(["exact", "f", "cohort", "flag", "AND", "OR", "0"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=6)
    ),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(json_like, structured), st.dictionaries(st.text(max_size=5), json_like, max_size=4)
)
def test_parse_and_evaluate_never_raise_on_garbage(data, props):
    flags = parse_definitions(data)  # type: ignore[arg-type]
    subject = Subject(
        "u",
        device_id="d",
        groups={"company": "c"},
        person_properties=props,
        group_properties={"company": props},
    )
    for server_side in (False, True):
        for result in evaluate_all(flags, subject, server_side=server_side, now=NOW).values():
            assert result.value is not None or result.unresolved is not None


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=5), values, max_size=5))
def test_a_realistic_flag_never_raises_on_arbitrary_person_properties(props):
    flags = flagset(
        flag(
            "f",
            cond(prop("email", "icontains", "@x.com"), prop("age", "gt", 3)),
            cond(prop("d", "is_date_after", "-7d"), rollout=50),
            variants={"a": 50, "b": 50},
        ),
    )
    result = evaluate_all(
        flags, Subject("u", person_properties=props), now=datetime.now(timezone.utc)
    )
    assert result["f"].value in (True, False, "a", "b", None)


def test_engine_never_imports_io_layers():
    import ast
    import pathlib

    source_dir = pathlib.Path(__file__).resolve().parents[2] / "src" / "posthog" / "_flags"
    mine = [
        "__init__",
        "coerce",
        "context",
        "dates",
        "evaluator",
        "hashing",
        "matchers",
        "model",
        "operators",
        "regex_compat",
        "results",
        "semver",
    ]
    forbidden = (
        "posthog._events",
        "posthog._delivery",
        "posthog._transport",
        "logging",
        "threading",
        "socket",
        "urllib",
        "http",
    )
    for name in mine:
        tree = ast.parse((source_dir / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                imported = [node.module or ""]
            else:
                continue
            for module in imported:
                assert not module.startswith(forbidden), (name, module)
