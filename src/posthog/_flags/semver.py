"""Semantic-version operators (spec 6.4 item 10).

Versions compare as ``(major, minor, patch)`` tuples. Range operators are compiled
once into a half-open interval ``[low, high)`` so evaluation is two tuple comparisons.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["Version", "compile_semver", "parse_property_version", "parse_version"]

Version = tuple[int, int, int]
_PART_RE = re.compile(r"0|[1-9]\d*")
_SPLIT_RE = re.compile(r"[-+]")


def parse_version(value: object) -> Version | None:
    """Read ``v1.2.3-beta+build`` as ``(1, 2, 3)``; ``None`` if the server would reject it."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = str(value).strip()
    if text[:1] in ("v", "V"):
        text = text[1:]
    text = _SPLIT_RE.split(text, maxsplit=1)[0]
    parts = text.split(".")
    if not 1 <= len(parts) <= 3 or not all(_PART_RE.fullmatch(p) for p in parts):
        return None
    numbers = [int(p) for p in parts] + [0] * (3 - len(parts))
    return (numbers[0], numbers[1], numbers[2])


_PARSED: dict[str, Version | None] = {}
_PARSED_LIMIT = 4096


def parse_property_version(value: object) -> Version | None:
    """``parse_version`` with a bounded memo for plain strings (a pure function of them)."""
    if value.__class__ is not str:
        return parse_version(value)
    assert isinstance(value, str)
    try:
        return _PARSED[value]
    except KeyError:
        pass
    result = parse_version(value)
    if len(_PARSED) >= _PARSED_LIMIT:
        _PARSED.clear()
    _PARSED[value] = result
    return result


def _interval(low: Version, high: Version) -> Callable[[Version], bool]:
    return lambda v: low <= v < high


def _tilde(text: str) -> Callable[[Version], bool] | None:
    """``1.2.3`` means [1.2.3, 1.3.0). The value is a bare version: ``~1.2.3`` is invalid
    to the reference (the server decides), so the ``~`` is not stripped here."""
    low = parse_version(text)
    if low is None:
        return None
    return _interval(low, (low[0], low[1] + 1, 0))


def _caret(text: str) -> Callable[[Version], bool] | None:
    """``1.2.3`` means [1.2.3, 2.0.0), ``0.2.3`` [0.2.3, 0.3.0), ``0.0.3`` [0.0.3, 0.0.4);
    a leading ``^`` makes the value invalid, as for ``_tilde``."""
    low = parse_version(text)
    if low is None:
        return None
    major, minor, patch = low
    if major > 0:
        high = (major + 1, 0, 0)
    elif minor > 0:
        high = (0, minor + 1, 0)
    else:
        high = (0, 0, patch + 1)
    return _interval(low, high)


def _wildcard(text: str) -> Callable[[Version], bool] | None:
    parts = text.strip().split(".")
    if len(parts) not in (2, 3) or parts[-1] != "*":
        return None
    fixed = parts[:-1]
    if not all(_PART_RE.fullmatch(p) for p in fixed):
        return None
    numbers = [int(p) for p in fixed]
    if len(numbers) == 1:
        return _interval((numbers[0], 0, 0), (numbers[0] + 1, 0, 0))
    return _interval((numbers[0], numbers[1], 0), (numbers[0], numbers[1] + 1, 0))


_COMPARE: dict[str, Callable[[Version, Version], bool]] = {
    "semver_eq": lambda a, b: a == b,
    "semver_neq": lambda a, b: a != b,
    "semver_gt": lambda a, b: a > b,
    "semver_gte": lambda a, b: a >= b,
    "semver_lt": lambda a, b: a < b,
    "semver_lte": lambda a, b: a <= b,
}

SEMVER_OPERATORS = frozenset([*_COMPARE, "semver_tilde", "semver_caret", "semver_wildcard"])


def compile_semver(operator: str, value: object) -> Callable[[Version], bool] | None:
    """Return a predicate over parsed property versions, or ``None`` for an invalid filter."""
    if operator in _COMPARE:
        target = parse_version(value)
        if target is None:
            return None
        compare = _COMPARE[operator]
        return lambda v: compare(v, target)
    if not isinstance(value, str):
        return None
    if operator == "semver_tilde":
        return _tilde(value)
    if operator == "semver_caret":
        return _caret(value)
    if operator == "semver_wildcard":
        text = value.strip()
        return _wildcard(text[1:] if text[:1] in ("v", "V") else text)
    return None
