"""Flag definitions parsed once into immutable, precompiled objects.

``parse_definitions`` turns the JSON of ``GET /flags/definitions`` into a ``FlagSet``.
Every filter becomes a compiled matcher and every constant outcome (disabled, no match,
each condition's match per variant) becomes a ready ``Evaluation``, so evaluating a flag
does no parsing and almost no allocation. Malformed pieces are marked with an
``Unresolved`` reason instead of raising; the rest of the definitions survive.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from posthog._flags.context import Matcher
from posthog._flags.matchers import CohortCompiler, compile_filter
from posthog._flags.results import UNSUPPORTED, Evaluation, Reason, Unresolved

__all__ = ["EMPTY_FLAGSET", "Condition", "FlagDefinition", "FlagSet", "parse_definitions"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Condition:
    """One OR-ed condition set: AND-ed filters, a rollout and an optional variant."""

    index: int
    matchers: tuple[Matcher, ...]
    threshold: float | None  # rollout_percentage / 100; None = everyone
    variant_override: str | None
    group_type: str | None  # mixed targeting: this condition's own group type
    unknown_group: bool  # mixed targeting with an index missing from the mapping
    defect: Unresolved | None
    matched: Mapping[bool | str, Evaluation]
    out_of_rollout: Evaluation
    simple: bool = False  # no defect, no group switch: evaluated inline in the flag's context
    fixed: Evaluation | None = None  # the match result when no variant hash is needed


@dataclass(frozen=True, slots=True)
class FlagDefinition:
    """A flag as the evaluator needs it; ``raw`` keeps the server's dict untouched."""

    key: str
    id: int | None
    version: int | None
    active: bool
    has_experiment: bool | None
    ensure_experience_continuity: bool
    evaluation_runtime: str | None
    aggregation_group_type_index: int | None
    variants: tuple[str, ...]
    payloads: Mapping[str, str]
    raw: Mapping[str, Any]
    group_type: str | None = None
    bucket_by_device: bool = False
    feature_enrollment: bool = False
    early_exit: bool = False
    hash_prefix: str = ""
    variant_table: tuple[tuple[str, float, float], ...] = ()
    holdout_threshold: float | None = None
    holdout_value: str = ""
    conditions: tuple[Condition, ...] = ()
    defect: Unresolved | None = None
    # What stops the flag as a dependency: ``defect`` except an unmapped group type,
    # as a dependency buckets by the current bucketing value (spec 6.6).
    dependency_defect: Unresolved | None = None
    outcomes: Mapping[str, Evaluation] = field(default_factory=dict)
    plain: bool = False  # active person flag, no continuity/defect/device/enrollment

    def evaluation(
        self,
        value: bool | str | None,
        reason: Reason,
        description: str,
        *,
        index: int | None = None,
        unresolved: str | None = None,
    ) -> Evaluation:
        """Build an ``Evaluation`` for this flag (payload looked up per spec 6.7)."""
        payload = None if value is None else self.payloads.get(payload_key(value))
        return Evaluation(
            self.key,
            value,
            payload,
            reason,
            index,
            description,
            unresolved,
            self.id,
            self.version,
            self.has_experiment,
        )

    def inconclusive(self, why: Unresolved) -> Evaluation:
        return self.evaluation(
            None, Reason.INCONCLUSIVE, f"Inconclusive: {why.description}", unresolved=why.kind
        )


@dataclass(frozen=True, slots=True)
class FlagSet:
    """An immutable snapshot of all definitions; safe to share between threads."""

    flags: Mapping[str, FlagDefinition]
    group_type_mapping: Mapping[str, str]
    property_matching_version: int
    minimal_flag_called_events: bool
    raw: Mapping[str, Any]
    has_dependencies: bool = False
    # False only when no filter can read ``distinct_id``: then the caller's person
    # properties need not be copied to add it (spec 5.4) -- nobody could observe it.
    reads_distinct_id: bool = True
    index: dict[str, FlagDefinition] = field(default_factory=dict)  # = flags, a plain dict


EMPTY_FLAGSET = FlagSet(MappingProxyType({}), MappingProxyType({}), 1, False, _EMPTY)


def payload_key(value: bool | str) -> str:
    """``filters.payloads`` key for a value: ``"true"``/``"false"`` or the variant."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _percentage(value: Any) -> float | None:
    """A rollout percentage; a non-number is a defect the caller marks."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("rollout percentage is not a number")
    return value / 100


def _payloads(filters: Mapping[str, Any]) -> Mapping[str, str]:
    """Payload JSON strings by value key, as the definitions give them. Single reads
    decode them (not JSON, or null: ``None``); bulk reads list every key, with ``None``
    for a string that is not JSON (spec 3.8)."""
    raw = filters.get("payloads")
    if not isinstance(raw, Mapping):
        return _EMPTY
    out: dict[str, str] = {}
    for key, value in raw.items():
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        out[str(key)] = text
    return MappingProxyType(out)


def _variant_table(filters: Mapping[str, Any]) -> tuple[tuple[str, float, float], ...]:
    """``[low, high)`` ranges built by the same float additions the server performs."""
    multivariate = filters.get("multivariate")
    if multivariate is None:
        return ()
    variants = multivariate.get("variants") if isinstance(multivariate, Mapping) else None
    if variants is None:
        return ()
    if not isinstance(variants, list):
        raise ValueError("variants is not a list")
    table = []
    low = 0.0
    for variant in variants:
        if not isinstance(variant, Mapping) or not isinstance(variant.get("key"), str):
            raise ValueError("malformed variant")
        share = _percentage(variant.get("rollout_percentage")) or 0.0
        high = low + share
        table.append((variant["key"], low, high))
        low = high
    return tuple(table)


class _Builder:
    """Shared state while parsing one payload (mapping, cohorts, matching version)."""

    def __init__(self, mapping: Mapping[str, str], cohorts: CohortCompiler, version: int) -> None:
        self.mapping = mapping
        self.cohorts = cohorts
        self.version = version
        self.has_dependencies = False

    def flag(self, raw: Mapping[str, Any], key: str) -> FlagDefinition:
        base = FlagDefinition(
            key=key,
            id=_int_or_none(raw.get("id")),
            version=_int_or_none(raw.get("version")),
            active=bool(raw.get("active")),
            has_experiment=raw.get("has_experiment")
            if isinstance(raw.get("has_experiment"), bool)
            else None,
            ensure_experience_continuity=bool(raw.get("ensure_experience_continuity")),
            evaluation_runtime=raw.get("evaluation_runtime")
            if isinstance(raw.get("evaluation_runtime"), str)
            else None,
            aggregation_group_type_index=None,
            variants=(),
            payloads=_EMPTY,
            raw=raw,
            hash_prefix=f"{key}.",
        )
        try:
            return self._compile(base, raw)
        except Exception:
            why = Unresolved(UNSUPPORTED, f"malformed definition of flag {key!r}")
            return _with_outcomes(_replace(base, defect=why, dependency_defect=why))

    def _compile(self, base: FlagDefinition, raw: Mapping[str, Any]) -> FlagDefinition:
        filters = raw.get("filters")
        if filters is None:
            filters = _EMPTY
        if not isinstance(filters, Mapping):
            raise ValueError("filters is not an object")
        index = _int_or_none(filters.get("aggregation_group_type_index"))
        group_type = None if index is None else self.mapping.get(str(index))
        defect = None
        if index is not None and group_type is None:
            defect = Unresolved(UNSUPPORTED, f"unknown group type index {index}")
        table = _variant_table(filters)
        holdout = filters.get("holdout")
        holdout_threshold, holdout_value = None, ""
        if isinstance(holdout, Mapping) and holdout.get("id") is not None:
            pct = holdout.get("exclusion_percentage")
            if pct is not None:
                clamped = min(max(float(pct), 0.0), 100.0)
                holdout_threshold, holdout_value = clamped / 100, f"holdout-{holdout['id']}"
        identifier = raw.get("bucketing_identifier") or filters.get("bucketing_identifier")
        flag = _replace(
            base,
            aggregation_group_type_index=index,
            group_type=group_type,
            variants=tuple(name for name, _, _ in table),
            variant_table=table,
            payloads=_payloads(filters),
            bucket_by_device=identifier == "device_id",
            feature_enrollment=filters.get("feature_enrollment") is True,
            early_exit=filters.get("early_exit") is True,
            holdout_threshold=holdout_threshold,
            holdout_value=holdout_value,
            defect=defect,
        )
        groups = filters.get("groups") or []
        if not isinstance(groups, list):
            raise ValueError("groups is not a list")
        conditions = tuple(self._condition(flag, i, c) for i, c in enumerate(groups))
        return _with_outcomes(_replace(flag, conditions=conditions))

    def _condition(self, flag: FlagDefinition, index: int, raw: Any) -> Condition:
        defect: Unresolved | None = None
        matchers: tuple[Matcher, ...] = ()
        threshold = None
        group_type, unknown_group, override = None, False, None
        try:
            if not isinstance(raw, Mapping):
                raise ValueError("condition is not an object")
            threshold = _percentage(raw.get("rollout_percentage"))
            props = raw.get("properties") or []
            if not isinstance(props, list):
                raise ValueError("properties is not a list")
            matchers = tuple(compile_filter(p, self.version, self.cohorts) for p in props)
            self.has_dependencies |= any(
                isinstance(p, Mapping) and p.get("type") == "flag" for p in props
            )
            variant = raw.get("variant")
            override = variant if isinstance(variant, str) and variant in flag.variants else None
            cond_index = _int_or_none(raw.get("aggregation_group_type_index"))
            if cond_index is not None and cond_index != flag.aggregation_group_type_index:
                group_type = self.mapping.get(str(cond_index))
                unknown_group = group_type is None
        except Exception:
            defect = Unresolved(UNSUPPORTED, f"malformed condition set {index + 1}")
        matched: dict[bool | str, Evaluation] = {True: _match(flag, index, True)}
        for name in flag.variants:
            matched[name] = _match(flag, index, name)
        out = flag.evaluation(
            False, Reason.OUT_OF_ROLLOUT_BOUND, "Out of rollout bound", index=index
        )
        return Condition(
            index,
            matchers,
            threshold,
            override,
            group_type,
            unknown_group,
            defect,
            MappingProxyType(matched),
            out,
            defect is None and group_type is None and not unknown_group,
            matched[override] if override is not None else None if flag.variants else matched[True],
        )


def _match(flag: FlagDefinition, index: int, value: bool | str) -> Evaluation:
    text = f"Matched condition set {index + 1}"
    return flag.evaluation(value, Reason.CONDITION_MATCH, text, index=index)


def _replace(flag: FlagDefinition, **changes: Any) -> FlagDefinition:
    values = {name: getattr(flag, name) for name in FlagDefinition.__dataclass_fields__}
    values.update(changes)
    return FlagDefinition(**values)


def _with_outcomes(flag: FlagDefinition) -> FlagDefinition:
    """Precompute the condition-independent outcomes of a flag."""
    group = flag.group_type or ""
    outcomes = {
        "disabled": flag.evaluation(False, Reason.DISABLED, "Flag is disabled"),
        "no_match": flag.evaluation(False, Reason.NO_CONDITION_MATCH, "No matching condition set"),
        "group_not_passed": flag.evaluation(
            False, Reason.GROUP_NOT_PASSED, f"Group type {group!r} was not passed"
        ),
        "enrolled": flag.evaluation(True, Reason.FEATURE_ENROLLMENT, "Enrolled in early access"),
        "not_enrolled": flag.evaluation(
            False, Reason.FEATURE_ENROLLMENT, "Not enrolled in early access"
        ),
    }
    if flag.holdout_value:
        outcomes["holdout"] = flag.evaluation(
            flag.holdout_value, Reason.HOLDOUT, "Held out of the experiment"
        )
    if flag.ensure_experience_continuity:
        outcomes["continuity"] = flag.inconclusive(
            Unresolved("experience_continuity", "experience continuity needs the server")
        )
    if flag.defect is not None:
        outcomes["defect"] = flag.inconclusive(flag.defect)
    plain = (
        flag.active
        and not flag.ensure_experience_continuity
        and flag.defect is None
        and flag.group_type is None
        and not flag.bucket_by_device
        and not flag.feature_enrollment
    )
    return _replace(flag, outcomes=MappingProxyType(outcomes), plain=plain)


def _version(data: Mapping[str, Any]) -> int:
    return 2 if data.get("property_matching_version") == 2 else 1


def parse_definitions(data: Mapping[str, Any]) -> FlagSet:
    """Parse ``/flags/definitions`` JSON once; never raises (bad input -> empty set)."""
    if not isinstance(data, Mapping):
        return EMPTY_FLAGSET
    try:
        return _parse(data)
    except Exception:
        return EMPTY_FLAGSET


def _parse(data: Mapping[str, Any]) -> FlagSet:
    raw_mapping = data.get("group_type_mapping")
    mapping = (
        {str(k): v for k, v in (raw_mapping or {}).items() if isinstance(v, str)}
        if isinstance(raw_mapping, Mapping)
        else {}
    )
    raw_cohorts = data.get("cohorts")
    cohorts = (
        {str(k): v for k, v in raw_cohorts.items()} if isinstance(raw_cohorts, Mapping) else {}
    )
    version = _version(data)
    builder = _Builder(mapping, CohortCompiler(cohorts, version), version)
    flags: dict[str, FlagDefinition] = {}
    raw_flags = data.get("flags")
    for raw in raw_flags if isinstance(raw_flags, list) else []:
        if isinstance(raw, Mapping) and isinstance(raw.get("key"), str) and raw["key"]:
            flags[raw["key"]] = builder.flag(raw, raw["key"])
    return FlagSet(
        MappingProxyType(flags),
        MappingProxyType(mapping),
        version,
        data.get("minimal_flag_called_events") is True,
        data,
        builder.has_dependencies or _mentions('"flag"', cohorts),
        _mentions('"distinct_id"', raw_flags, cohorts),
        flags,
    )


def _mentions(token: str, *parts: Any) -> bool:
    """Conservative scan of raw JSON: True whenever ``token`` appears anywhere."""
    try:
        return any(token in json.dumps(part, default=_plain) for part in parts)
    except Exception:  # unserialisable input: assume the worst
        return True


def _plain(value: Any) -> Any:
    """JSON stand-in for non-dict mappings and other odd values in raw definitions."""
    return dict(value) if isinstance(value, Mapping) else str(value)
