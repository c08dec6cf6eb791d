"""Property operators (spec 6.4), compiled once per filter into a ``ValueTest``.

Everything that depends only on the filter (stringified candidates, parsed numbers,
dates, versions, regexes) is computed here at parse time; the returned closure does
the minimum per property value. An unusable filter raises ``InvalidFilter`` so the
caller can mark it ``unsupported_definition``.
"""

from __future__ import annotations

import operator as _op
import re
import warnings
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

from posthog._flags.coerce import (
    Unrenderable,
    as_number,
    ascii_lower,
    backend_string,
    is_truthy,
    renderable,
)
from posthog._flags.context import Context, ValueTest
from posthog._flags.dates import parse_date_filter, parse_property_date
from posthog._flags.regex_compat import plain_ascii, translate
from posthog._flags.results import MISSING, UNSUPPORTED, MatchResult, Unresolved
from posthog._flags.semver import SEMVER_OPERATORS, compile_semver, parse_property_version

__all__ = [
    "OPERATORS",
    "InvalidFilter",
    "InvalidOperand",
    "boolean_like",
    "build_value_test",
    "filter_text",
]


class InvalidFilter(ValueError):
    """The filter cannot be evaluated by anyone (bad operand, unknown operator)."""

    none_is_false = False


class InvalidOperand(InvalidFilter):
    """An unreadable date or semver filter value: still, a property that is present and
    ``None`` is ``False`` -- spec 6.4 step 5 decides that before the value is parsed."""

    none_is_false = True


_NUMERIC = {"gt": _op.gt, "gte": _op.ge, "lt": _op.lt, "lte": _op.le}
_TEXT: dict[str, Callable[[str, str], bool]] = {
    "icontains": lambda s, needle: needle in s,
    "starts_with": lambda s, needle: s.startswith(needle),
    "ends_with": lambda s, needle: s.endswith(needle),
}
OPERATORS = frozenset(
    ["exact", "is_not", "is_set", "is_not_set", "regex", "not_regex"]
    + ["is_date_before", "is_date_after"]
    + list(_NUMERIC)
    + list(_TEXT)
    + [f"not_{name}" for name in _TEXT]
    + list(SEMVER_OPERATORS)
)


def _lowered(value: Any, lower: Callable[[str], str], bad: Unresolved) -> str | Unresolved:
    if isinstance(value, str):
        return lower(value)
    try:
        return lower(backend_string(value))
    except Unrenderable:
        return bad


def _unusable(ctx: Context, bad: Unresolved) -> MatchResult:
    """A property value no comparison can use: the server calls it a non-match."""
    return False if ctx.server_side else bad


def filter_text(value: Any, lower: Callable[[str], str]) -> str:
    try:
        return lower(backend_string(value))
    except Unrenderable as exc:
        raise InvalidFilter("non-finite filter value") from exc


def boolean_like(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, str):
        return value.lower() in ("true", "false")
    if isinstance(value, list):
        return bool(value) and all(boolean_like(item) for item in value)
    return False


def _exact(value: Any, version: int, bad: Unresolved) -> ValueTest:
    """``exact``: backend stringification + Unicode lowercase, v1 boolean shortcut.

    The property is stringified first (spec 6.4 step 6), so a value with no JSON text
    (NaN, a set, ...) is unusable even where only its truthiness would be compared.
    """
    if isinstance(value, list) and not value:

        def truthy(v: Any, ctx: Context) -> MatchResult:
            return is_truthy(v) if renderable(v) else _unusable(ctx, bad)

        return truthy
    if version != 2 and boolean_like(value):
        target = is_truthy(value)

        def same_truth(v: Any, ctx: Context) -> MatchResult:
            return is_truthy(v) == target if renderable(v) else _unusable(ctx, bad)

        return same_truth
    if isinstance(value, list):
        candidates = frozenset(filter_text(item, str.lower) for item in value)

        def in_list(v: Any, ctx: Context) -> MatchResult:
            text = _lowered(v, str.lower, bad)
            return _unusable(ctx, text) if isinstance(text, Unresolved) else text in candidates

        return in_list
    target_text = filter_text(value, str.lower)

    def equals(v: Any, ctx: Context) -> MatchResult:
        text = _lowered(v, str.lower, bad)
        return _unusable(ctx, text) if isinstance(text, Unresolved) else text == target_text

    return equals


def _negate(test: ValueTest) -> ValueTest:
    def negated(v: Any, ctx: Context) -> MatchResult:
        result = test(v, ctx)
        return result if isinstance(result, Unresolved) else not result

    return negated


def _text(name: str, value: Any, bad: Unresolved) -> ValueTest:
    """Text operators: ASCII-only lowercase on both sides."""
    needle = filter_text(value, ascii_lower)
    check = _TEXT[name]

    def text_test(v: Any, ctx: Context) -> MatchResult:
        text = _lowered(v, ascii_lower, bad)
        return _unusable(ctx, text) if isinstance(text, Unresolved) else check(text, needle)

    return text_test


def _numeric(name: str, value: Any) -> ValueTest:
    target = as_number(value)
    if target is None:
        raise InvalidFilter("numeric operator needs a finite number")
    compare = _NUMERIC[name]

    def numeric_test(v: Any, ctx: Context) -> MatchResult:
        number = as_number(v)
        return False if number is None else compare(number, target)

    return numeric_test


def _compile_quietly(pattern: str) -> re.Pattern[str] | None:
    """Compile with Python ``re``; a pattern it rejects (or warns about) never matches."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None


def _pattern_text(value: Any) -> str:
    """A regex filter that is not a string is read with Python's ``str()``, as the
    reference does: ``None`` is the pattern ``None``, ``True`` is ``True``, a list is its
    Python repr (``['a', 'b']``, a character class) -- never the JSON text."""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except ValueError as exc:  # an integer too long to print
        raise InvalidFilter("unprintable regex filter") from exc


def _server_search(pattern: str) -> Callable[[str], Any] | None:
    """How our dev server matches a deferred pattern (``None``: it matches nothing)."""
    from posthog._flags.regex_python import server_pattern

    python = server_pattern(pattern)
    compiled = _compile_quietly(python) if python is not None else None
    return compiled.search if compiled is not None else None


def _regex(value: Any, negate: bool, deferred_result: Unresolved, bad: Unresolved) -> ValueTest:
    pattern_text = _pattern_text(value)

    def fixed(answer: bool) -> ValueTest:
        """Empty or invalid pattern: the answer needs a property with JSON text."""
        return lambda v, ctx: answer if renderable(v) else _unusable(ctx, bad)

    if pattern_text == "":
        return fixed(not negate)
    plan = translate(pattern_text)
    if plan.deferred is not None:
        # Only the server can say; our dev server (server_side) trusts Python 3.11+ ``re``.
        # The SDK never needs that reading: it is made on the dev server's first use.
        searches: list[Callable[[str], Any] | None] = []

        def deferred_test(v: Any, ctx: Context) -> MatchResult:
            if not ctx.server_side:
                return deferred_result
            if not searches:
                searches.append(_server_search(pattern_text))
            server_search = searches[0]
            if server_search is None:
                return False
            text = _lowered(v, str, deferred_result)
            if isinstance(text, Unresolved):
                return False
            return (server_search(text) is None) if negate else (server_search(text) is not None)

        return deferred_test
    compiled = _compile_quietly(plan.pattern)
    if compiled is None:
        return fixed(False)
    search = compiled.search
    needs_plain = plan.ascii_only

    def regex_test(v: Any, ctx: Context) -> MatchResult:
        text = v if isinstance(v, str) else _lowered(v, str, bad)
        if isinstance(text, Unresolved):
            return _unusable(ctx, text)
        if needs_plain and not ctx.server_side and not plain_ascii(text):
            return deferred_result
        return (search(text) is None) if negate else (search(text) is not None)

    return regex_test


def _date(name: str, value: Any, bad: Unresolved) -> ValueTest:
    boundary = parse_date_filter(value)
    if boundary is None:
        raise InvalidOperand("invalid date filter")
    before = name == "is_date_before"

    def date_test(v: Any, ctx: Context) -> MatchResult:
        if v is None:
            return False
        limit = boundary(ctx.now)
        if isinstance(v, datetime):
            moment = v if v.tzinfo is not None else v.replace(tzinfo=timezone.utc)
            return moment < limit if before else moment > limit
        if isinstance(v, date):
            return v < limit.date() if before else v > limit.date()
        parsed = parse_property_date(v, ctx.now) if isinstance(v, str) else None
        if parsed is None:
            return False if ctx.server_side else bad
        return parsed < limit if before else parsed > limit

    return date_test


def _semver(name: str, value: Any, bad: Unresolved) -> ValueTest:
    predicate = compile_semver(name, value)
    if predicate is None:
        raise InvalidOperand("invalid semver filter")

    def semver_test(v: Any, ctx: Context) -> MatchResult:
        if v is None:
            return False
        version = parse_property_version(v)
        if version is None:
            return False if ctx.server_side else bad
        return predicate(version)

    return semver_test


def build_value_test(name: str, value: Any, key: str, version: int) -> ValueTest:
    """Compile ``operator``/``value`` for property ``key``; raise ``InvalidFilter`` if unusable."""
    bad = Unresolved(MISSING, f"unusable value for property {key!r}")
    if name == "exact":
        return _exact(value, version, bad)
    if name == "is_not":
        return _negate(_exact(value, version, bad))
    if name == "is_set":
        return lambda v, ctx: True
    if name == "is_not_set":
        return lambda v, ctx: False
    if name in _NUMERIC:
        return _numeric(name, value)
    if name in _TEXT:
        return _text(name, value, bad)
    if name.startswith("not_") and name[4:] in _TEXT:
        return _negate(_text(name[4:], value, bad))
    if name in ("regex", "not_regex"):
        deferred = Unresolved(UNSUPPORTED, f"regex on {key!r} needs server evaluation")
        return _regex(value, name == "not_regex", deferred, bad)
    if name in ("is_date_before", "is_date_after"):
        return _date(name, value, bad)
    if name in SEMVER_OPERATORS:
        return _semver(name, value, bad)
    raise InvalidFilter(f"unknown operator {name!r}")
