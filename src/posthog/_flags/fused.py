"""Fused property matchers for the hottest operators (spec 6.4), built at parse time.

A generic property matcher is two closures deep (look the key up, then run the
compiled ``ValueTest``), and the test re-checks the value's type on every call. The
matchers here do the lookup and the common case in one frame: a plain ``str`` (or an
``int``/``float`` for numeric operators) is compared directly against constants
prepared once. Every other value -- ``None``, bools, lists, subclasses, anything odd --
goes to the generic ``ValueTest``, so results are the same by construction.
"""

from __future__ import annotations

import math
import operator as _op
from collections.abc import Callable, Mapping
from typing import Any

from posthog._flags.coerce import as_number, ascii_lower, is_truthy
from posthog._flags.context import Context, Matcher, ValueTest
from posthog._flags.operators import boolean_like, filter_text
from posthog._flags.results import MatchResult, Unresolved

__all__ = ["fuse"]

_MISSING: Any = object()
_isfinite = math.isfinite

# A compiled string check: (property text as-is) -> bool.
_StrCheck = Callable[[str], bool]
_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "gt": _op.gt,
    "gte": _op.ge,
    "lt": _op.lt,
    "lte": _op.le,
}


def _exact_check(value: Any, version: int) -> _StrCheck | None:
    """``exact`` on a plain string property, mirroring ``operators._exact``."""
    if isinstance(value, list) and not value:
        return None  # truthiness of lists: rare, left to the generic test
    if version != 2 and boolean_like(value):
        target = is_truthy(value)
        return lambda s: (s.lower() == "true") == target
    if isinstance(value, list):
        candidates = frozenset(filter_text(item, str.lower) for item in value)
        return lambda s: s.lower() in candidates
    text = filter_text(value, str.lower)
    return lambda s: s.lower() == text


def _ascii_lowered(s: str) -> str:
    return s.lower() if s.isascii() else ascii_lower(s)


def _text_check(name: str, value: Any) -> _StrCheck:
    """Text operators lower only A-Z (``str.lower`` is the same on ASCII text)."""
    needle = filter_text(value, ascii_lower)
    if name == "icontains":
        return lambda s: needle in _ascii_lowered(s)
    if name == "starts_with":
        return lambda s: _ascii_lowered(s).startswith(needle)
    return lambda s: _ascii_lowered(s).endswith(needle)


def _string_check(name: str, value: Any, version: int) -> tuple[_StrCheck, bool] | None:
    """The check for a plain ``str`` property and whether to negate it."""
    if name in ("exact", "is_not"):
        check = _exact_check(value, version)
        return None if check is None else (check, name == "is_not")
    if name in ("icontains", "starts_with", "ends_with"):
        return _text_check(name, value), False
    if name in ("not_icontains", "not_starts_with", "not_ends_with"):
        return _text_check(name[4:], value), True
    return None


def _on_strings(
    key: str, check: _StrCheck, negate: bool, test: ValueTest, absent: Callable[[Context], Any]
) -> Matcher:
    if negate:

        def not_string(props: Mapping[str, Any], ctx: Context, bucket: str) -> MatchResult:
            v = props.get(key, _MISSING)
            if v.__class__ is str:
                return not check(v)
            if v is _MISSING:
                return absent(ctx)  # type: ignore[no-any-return]
            return test(v, ctx)

        return not_string

    def string(props: Mapping[str, Any], ctx: Context, bucket: str) -> MatchResult:
        v = props.get(key, _MISSING)
        if v.__class__ is str:
            return check(v)
        if v is _MISSING:
            return absent(ctx)  # type: ignore[no-any-return]
        return test(v, ctx)

    return string


def _on_numbers(
    key: str, name: str, value: Any, test: ValueTest, absent: Callable[[Context], Any]
) -> Matcher | None:
    target = as_number(value)
    if target is None:
        return None
    compare = _NUMERIC[name]

    def number(props: Mapping[str, Any], ctx: Context, bucket: str) -> MatchResult:
        v = props.get(key, _MISSING)
        cls = v.__class__
        if cls is int:
            if -(2**53) <= v <= 2**53:  # exactly representable: float() cannot overflow
                return compare(float(v), target)
        elif cls is float:
            return compare(v, target) if _isfinite(v) else False
        elif v is _MISSING:
            return absent(ctx)  # type: ignore[no-any-return]
        return test(v, ctx)

    return number


def _exact_in_list(
    key: str, value: Any, version: int, test: ValueTest, absent: Callable[[Context], Any]
) -> Matcher | None:
    """The commonest filter of all (``plan`` in a list of names), in a single frame."""
    if not (isinstance(value, list) and value) or (version != 2 and boolean_like(value)):
        return None
    candidates = frozenset(filter_text(item, str.lower) for item in value)

    def in_list(props: Mapping[str, Any], ctx: Context, bucket: str) -> MatchResult:
        v = props.get(key, _MISSING)
        if v.__class__ is str:
            return v.lower() in candidates
        if v is _MISSING:
            return absent(ctx)  # type: ignore[no-any-return]
        return test(v, ctx)

    return in_list


def _contains(
    key: str, value: Any, negate: bool, test: ValueTest, absent: Callable[[Context], Any]
) -> Matcher:
    """``icontains`` / ``not_icontains`` (e-mail domains and the like) in a single frame."""
    needle = filter_text(value, ascii_lower)

    def contains(props: Mapping[str, Any], ctx: Context, bucket: str) -> MatchResult:
        v = props.get(key, _MISSING)
        if v.__class__ is str:
            return (needle in (v.lower() if v.isascii() else ascii_lower(v))) is not negate
        if v is _MISSING:
            return absent(ctx)  # type: ignore[no-any-return]
        return test(v, ctx)

    return contains


def fuse(
    key: str, name: str, value: Any, version: int, test: ValueTest, missing: Unresolved
) -> Matcher | None:
    """A one-frame matcher for ``name``, or ``None`` when the generic one should be used.

    ``test`` must be the already compiled (hence valid) ``ValueTest`` for the filter.
    """
    when_absent_server = name == "is_not_set"

    def absent(ctx: Context) -> MatchResult:
        return when_absent_server if ctx.server_side else missing

    if name in _NUMERIC:
        return _on_numbers(key, name, value, test, absent)
    if name in ("icontains", "not_icontains"):
        return _contains(key, value, name == "not_icontains", test, absent)
    if name == "exact":
        in_list = _exact_in_list(key, value, version, test, absent)
        if in_list is not None:
            return in_list
    plan = _string_check(name, value, version)
    if plan is None:
        return None
    return _on_strings(key, plan[0], plan[1], test, absent)
