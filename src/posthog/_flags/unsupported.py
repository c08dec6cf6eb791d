"""Which loaded flags local evaluation cannot decide (spec 5.2), logged once per set.

A flag is listed when its definition holds a piece that no subject's properties can
make decidable, so every evaluation that reaches it goes to the server (or answers
``None`` when the call stays local): experience continuity, a malformed definition or
condition set, early access on a group flag, and, inside a condition set, a static
cohort (an id the definitions do not include), a cohort or property filter with an
unknown operator or an unusable value, or a flag dependency whose chain is missing,
circular, or names a flag that is not loaded or is itself listed. Missing properties
are not listed: they depend on the call. Flags with ``evaluation_runtime == "client"``
are left out of the warning only (they are still evaluated).

The compiled model is read, never changed: flag- and condition-level defects come from
``FlagDefinition``/``Condition``; filter-level pieces, which compiled matchers keep to
themselves, are re-checked on the raw JSON with the engine's own operator compiler.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from posthog._flags.model import FlagDefinition, FlagSet
from posthog._flags.operators import InvalidFilter, build_value_test

__all__ = ["UnsupportedFlags", "never_local"]

log = logging.getLogger("posthog")

_COHORT_OPERATORS = ("exact", "in", "not_in")


def never_local(flagset: FlagSet) -> dict[str, str]:
    """``{flag key: why}`` for every flag local evaluation cannot decide, in load order."""
    walk = _Walk(flagset)
    found: dict[str, str] = {}
    for key in flagset.flags:
        why = walk.flag(key)
        if why is not None:
            found[key] = why
    return found


class _Walk:
    """One pass over a flag set; flag results are memoised (dependencies share them)."""

    def __init__(self, flagset: FlagSet) -> None:
        self.flags = flagset.flags
        self.version = flagset.property_matching_version
        raw = flagset.raw.get("cohorts")
        self.cohorts = {str(k): v for k, v in raw.items()} if isinstance(raw, Mapping) else {}
        self.done: dict[str, str | None] = {}
        self.busy: set[str] = set()

    def flag(self, key: str) -> str | None:
        if key in self.done:
            return self.done[key]
        if key in self.busy:
            return f"circular dependency on {key!r}"
        self.busy.add(key)
        try:
            why = self._flag(self.flags[key])
        finally:
            self.busy.discard(key)
        self.done[key] = why
        return why

    def _flag(self, flag: FlagDefinition) -> str | None:
        if not flag.active:
            return None  # always False, decided locally
        if flag.ensure_experience_continuity:
            return "experience continuity"
        if flag.defect is not None:
            return flag.defect.description
        if flag.feature_enrollment:
            group_flag = flag.aggregation_group_type_index is not None
            return "early access on a group flag" if group_flag else None
        filters = flag.raw.get("filters")
        groups = filters.get("groups") if isinstance(filters, Mapping) else None
        for condition in flag.conditions:
            if condition.defect is not None:
                return condition.defect.description
            raw = groups[condition.index] if isinstance(groups, list) else {}
            props = raw.get("properties") if isinstance(raw, Mapping) else None
            for spec in props if isinstance(props, list) else []:
                why = self.filter(spec, set())
                if why is not None:
                    return f"condition set {condition.index + 1}: {why}"
        return None

    def filter(self, spec: Any, cohorts_seen: set[str]) -> str | None:
        """Why one filter can never be decided locally, or ``None``."""
        if not isinstance(spec, Mapping):
            return "filter is not an object"
        try:
            kind = spec.get("type")
            if kind == "cohort":
                return self.cohort_filter(spec, cohorts_seen)
            if kind == "flag":
                return self.dependency(spec)
            return self.property_filter(spec)
        except Exception:  # the engine compiles such a filter as "malformed" too
            return "malformed filter"

    def property_filter(self, spec: Mapping[str, Any]) -> str | None:
        key = spec.get("key")
        if not isinstance(key, str):
            return "property filter without a key"
        name = spec.get("operator") or "exact"
        if not isinstance(name, str):
            return "operator is not a string"
        try:
            build_value_test(name, spec.get("value"), key, self.version)
        except InvalidFilter as why:
            return f"{why} on property {key!r}"
        return None

    def dependency(self, spec: Mapping[str, Any]) -> str | None:
        key = spec.get("key")
        if spec.get("operator") != "flag_evaluates_to" or not isinstance(key, str) or not key:
            return None  # a definitive non-match (spec 6.6)
        if spec.get("value") is None:
            return None
        chain = spec.get("dependency_chain")
        if not isinstance(chain, list) or not all(isinstance(m, str) for m in chain):
            return f"dependency chain of {key!r} is missing"
        if not chain:
            return f"circular dependency on {key!r}"
        for member in chain if chain[-1] == key else [*chain, key]:
            if member not in self.flags:
                return f"dependency {member!r} is not loaded"
            why = self.flag(member)
            if why is not None:
                return f"dependency {member!r}: {why}"
        return None

    def cohort_filter(self, spec: Mapping[str, Any], seen: set[str]) -> str | None:
        # the id first, as the engine checks it (spec 6.5): a static cohort is the reason
        cohort_id = str(spec.get("value"))
        if cohort_id not in self.cohorts:
            return f"static cohort {cohort_id}"
        name = spec.get("operator") or "in"
        if name not in _COHORT_OPERATORS:
            return f"cohort operator {name!r}"
        if cohort_id in seen:
            return f"circular cohort {cohort_id}"
        return self.group(self.cohorts[cohort_id], seen | {cohort_id})

    def group(self, node: Any, seen: set[str]) -> str | None:
        if isinstance(node, Mapping) and not node:
            return None
        if not isinstance(node, Mapping):
            return "malformed cohort definition"
        values = node.get("values")
        if node.get("type") not in ("AND", "OR") or not isinstance(values, list):
            return "malformed cohort definition"
        for entry in values:
            nested = isinstance(entry, Mapping) and (
                not entry or "values" in entry or entry.get("type") in ("AND", "OR")
            )
            why = self.group(entry, seen) if nested else self.filter(entry, seen)
            if why is not None:
                return why
        return None


def _fingerprint(flagset: FlagSet) -> str:
    text = json.dumps(flagset.raw, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


class UnsupportedFlags:
    """Warns once per published definition set; a 304 or identical definitions are
    the same set and stay quiet. One instance per client (its loads are serialised)."""

    def __init__(self) -> None:
        self._flagset: FlagSet | None = None
        self._fingerprint: str | None = None

    def published(self, flagset: FlagSet) -> None:
        if flagset is self._flagset:
            return  # 304: the very same snapshot again
        self._flagset = flagset
        try:
            fingerprint = _fingerprint(flagset)
            if fingerprint == self._fingerprint:
                return
            self._fingerprint = fingerprint
            found = never_local(flagset)
        except Exception as exc:  # a diagnostic must never break a load
            log.debug("[PostHog] could not check flag definitions: %r", exc)
            return
        shown = [
            f"{key} ({why})"
            for key, why in found.items()
            if flagset.flags[key].evaluation_runtime != "client"
        ]
        if shown:
            log.warning(
                "[PostHog] %d flag(s) cannot be evaluated locally; the server decides them "
                "(None with only_evaluate_locally): %s",
                len(shown),
                ", ".join(shown),
            )
