"""Compile filters (property, cohort, flag dependency) into ``Matcher`` closures.

A matcher never raises: a filter that cannot be compiled becomes a matcher that always
returns its ``Unresolved`` reason, so one bad filter never hides the rest of a
definition (spec: unsupported pieces are marked, not raised).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from posthog._flags.context import Context, Matcher
from posthog._flags.fused import fuse
from posthog._flags.operators import InvalidFilter, build_value_test
from posthog._flags.results import (
    DEPENDENCY,
    MISSING,
    REQUIRES_SERVER,
    UNSUPPORTED,
    MatchResult,
    Unresolved,
    better,
)

__all__ = ["CohortCompiler", "compile_filter", "constant", "negated"]

_MISSING = object()


def constant(result: MatchResult) -> Matcher:
    """A matcher with a fixed answer (used for marked, unusable pieces)."""
    return lambda props, ctx, bucket: result


def negated(matcher: Matcher) -> Matcher:
    """Flip conclusive results; unresolved stays unresolved."""

    def flip(props: Mapping[str, Any], ctx: Context, bucket: str) -> MatchResult:
        result = matcher(props, ctx, bucket)
        return result if isinstance(result, Unresolved) else not result

    return flip


def _property_filter(spec: Mapping[str, Any], version: int) -> Matcher:
    key = spec.get("key")
    if not isinstance(key, str):
        return constant(Unresolved(UNSUPPORTED, "property filter without a key"))
    name = spec.get("operator") or "exact"
    if not isinstance(name, str):
        return constant(Unresolved(UNSUPPORTED, "operator is not a string"))
    try:
        test = build_value_test(name, spec.get("value"), key, version)
    except InvalidFilter as why:
        unusable = Unresolved(UNSUPPORTED, f"{why} on property {key!r}")
        return _false_if_none(key, unusable) if why.none_is_false else constant(unusable)
    missing = Unresolved(MISSING, f"missing property {key!r}")
    fused = fuse(key, name, spec.get("value"), version, test, missing)
    if fused is not None:
        return fused
    when_absent_server = name == "is_not_set"

    def match(props: Mapping[str, Any], ctx: Context, bucket: str) -> MatchResult:
        value = props.get(key, _MISSING)
        if value is _MISSING:
            return when_absent_server if ctx.server_side else missing
        return test(value, ctx)

    return match


def _false_if_none(key: str, unusable: Unresolved) -> Matcher:
    """An unreadable date/semver filter: ``None`` is False first (spec 6.4 step 5)."""

    def match(props: Mapping[str, Any], ctx: Context, bucket: str) -> MatchResult:
        return False if props.get(key, _MISSING) is None else unusable

    return match


def _dependency_matches(actual: object, expected: object) -> bool:
    if isinstance(actual, str):
        return expected is True or (isinstance(expected, str) and actual == expected)
    if isinstance(actual, bool):
        return actual is expected
    return False


def _flag_filter(spec: Mapping[str, Any]) -> Matcher:
    """``flag_evaluates_to`` dependency (spec 6.6)."""
    key = spec.get("key")
    expected = spec.get("value")
    if spec.get("operator") != "flag_evaluates_to" or not isinstance(key, str) or not key:
        return constant(False)
    if expected is None:
        return constant(False)
    chain = spec.get("dependency_chain")
    if not isinstance(chain, list) or not all(isinstance(m, str) for m in chain):
        return constant(Unresolved(DEPENDENCY, f"dependency chain of {key!r} is missing"))
    if not chain:
        return constant(Unresolved(DEPENDENCY, f"circular dependency on {key!r}"))
    members = tuple(chain) if chain[-1] == key else (*chain, key)

    def match(props: Mapping[str, Any], ctx: Context, bucket: str) -> MatchResult:
        actual: object = None
        for member in members:
            actual = ctx.dependency(member, props, bucket)
            if isinstance(actual, Unresolved):
                return actual
        return _dependency_matches(actual, expected)

    return match


# A compiled cohort piece and whether it can answer ``requires_server``.
_Compiled = tuple[Matcher, bool]


class CohortCompiler:
    """Compiles cohort property groups on demand, once each, refusing cycles.

    Alongside each matcher it records whether the matcher can ever answer
    ``requires_server`` (a static cohort, a malformed piece, a flag dependency), so a
    group can keep the cheap short circuit wherever nothing after it could.
    """

    def __init__(self, cohorts: Mapping[str, Any], version: int) -> None:
        self._raw = cohorts
        self._version = version
        self._done: dict[str, _Compiled] = {}
        self._busy: set[str] = set()

    def cohort(self, cohort_id: str) -> Matcher | None:
        """The matcher for one cohort, or ``None`` when the id is unknown (static cohort)."""
        compiled = self._cohort(cohort_id)
        return None if compiled is None else compiled[0]

    def _cohort(self, cohort_id: str) -> _Compiled | None:
        if cohort_id in self._done:
            return self._done[cohort_id]
        if cohort_id not in self._raw:
            return None
        if cohort_id in self._busy:
            return constant(Unresolved(UNSUPPORTED, f"circular cohort {cohort_id}")), False
        self._busy.add(cohort_id)
        try:
            compiled = self._group(self._raw[cohort_id])
        finally:
            self._busy.discard(cohort_id)
        self._done[cohort_id] = compiled
        return compiled

    def _group(self, node: Any) -> _Compiled:
        """``{"type": "AND"|"OR", "values": [...]}``; ``{}`` is an always-true group."""
        if isinstance(node, Mapping) and not node:
            return constant(True), False
        malformed = constant(Unresolved(REQUIRES_SERVER, "malformed cohort definition")), True
        if not isinstance(node, Mapping):
            return malformed
        kind, values = node.get("type"), node.get("values")
        if kind not in ("AND", "OR") or not isinstance(values, list):
            return malformed
        if not values:  # an empty group of either kind matches, as in the reference
            return constant(True), False
        entries = tuple(self._entry(entry) for entry in values)
        return _combine(kind == "AND", entries), any(server for _, server in entries)

    def _entry(self, entry: Any) -> _Compiled:
        if isinstance(entry, Mapping) and (
            not entry or "values" in entry or entry.get("type") in ("AND", "OR")
        ):
            return self._group(entry)
        if not isinstance(entry, Mapping):
            return constant(Unresolved(REQUIRES_SERVER, "malformed cohort entry")), True
        matcher = compile_filter(entry, self._version, self)
        kind = entry.get("type")
        server = kind == "flag" or (kind == "cohort" and self._may_need_server(entry))
        return (negated(matcher) if entry.get("negation") is True else matcher), server

    def _may_need_server(self, spec: Mapping[str, Any]) -> bool:
        """A cohort filter (already compiled): unknown or not yet known ids count as yes."""
        compiled = self._done.get(str(spec.get("value")))
        return compiled is None or compiled[1]


def _combine(conjunction: bool, entries: tuple[_Compiled, ...]) -> Matcher:
    """Spec 6.5: AND -> the first False decides, OR -> the first True decides, and a
    deciding entry beats inconclusive ones -- but every entry is evaluated, so a static
    cohort or a malformed piece anywhere sends the flag to the server.

    After a decision only the later entries that can still ask for the server are
    evaluated (usually none, so the common case keeps its short circuit).
    """
    matchers = tuple(matcher for matcher, _ in entries)
    rest = tuple(tuple(m for m, s in entries[i + 1 :] if s) for i in range(len(entries)))
    decisive = not conjunction  # the entry result that decides the group

    def combined(props: Mapping[str, Any], ctx: Context, bucket: str) -> MatchResult:
        pending: Unresolved | None = None
        for index, matcher in enumerate(matchers):
            result = matcher(props, ctx, bucket)
            if result is decisive:
                for later in rest[index]:
                    late = later(props, ctx, bucket)
                    if isinstance(late, Unresolved) and late.kind == REQUIRES_SERVER:
                        return late
                return decisive
            if isinstance(result, Unresolved):
                if result.kind == REQUIRES_SERVER:
                    return result
                pending = better(pending, result)
        return conjunction if pending is None else pending

    return combined


def _cohort_filter(spec: Mapping[str, Any], cohorts: CohortCompiler) -> Matcher:
    """Cohort membership (spec 6.5); an unknown id is a static cohort -> server, whatever
    the operator (the id is checked first, so a later condition cannot decide instead)."""
    name = spec.get("operator") or "in"
    cohort_id = str(spec.get("value"))
    matcher = cohorts.cohort(cohort_id)
    if matcher is not None and name not in ("exact", "in", "not_in"):
        return constant(Unresolved(UNSUPPORTED, f"cohort operator {name!r}"))
    if matcher is None:
        static = Unresolved(REQUIRES_SERVER, f"cohort {cohort_id} needs the server")

        def unknown(props: Mapping[str, Any], ctx: Context, bucket: str) -> MatchResult:
            return False if ctx.server_side else static

        return unknown
    return negated(matcher) if name == "not_in" else matcher


def compile_filter(spec: Any, version: int, cohorts: CohortCompiler) -> Matcher:
    """Compile any filter dict; never raises."""
    if not isinstance(spec, Mapping):
        return constant(Unresolved(UNSUPPORTED, "filter is not an object"))
    try:
        kind = spec.get("type")
        if kind == "cohort":
            return _cohort_filter(spec, cohorts)
        if kind == "flag":
            return _flag_filter(spec)
        return _property_filter(spec, version)
    except Exception:  # a malformed piece must not take the whole definition down
        return constant(Unresolved(UNSUPPORTED, "malformed filter"))
