"""Builders for flag-definition facts, so tests read as tables instead of dict literals."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from posthog._flags.evaluator import Evaluation, Subject, evaluate
from posthog._flags.model import FlagSet, parse_definitions

NOW = datetime(2024, 3, 31, 12, 0, 0, tzinfo=timezone.utc)


def prop(
    key: str, operator: str | None, value: Any, kind: str = "person", **extra: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {"key": key, "value": value, "type": kind, **extra}
    if operator is not None:
        spec["operator"] = operator
    return spec


def cohort(cohort_id: int | str, operator: str = "in", **extra: Any) -> dict[str, Any]:
    return {"key": "id", "type": "cohort", "value": cohort_id, "operator": operator, **extra}


def depends(key: str, value: Any, chain: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "key": key,
        "type": "flag",
        "operator": "flag_evaluates_to",
        "value": value,
    }
    spec["dependency_chain"] = [key] if chain is None else chain
    return spec


def cond(
    *props: dict[str, Any], rollout: Any = 100, variant: str | None = None, group: int | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"properties": list(props), "rollout_percentage": rollout}
    if variant is not None:
        spec["variant"] = variant
    if group is not None:
        spec["aggregation_group_type_index"] = group
    return spec


def flag(
    key: str = "flag",
    *conditions: dict[str, Any],
    variants: dict[str, float] | None = None,
    payloads: dict[str, str] | None = None,
    group: int | None = None,
    filters: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"groups": list(conditions) if conditions else [cond()]}
    if variants is not None:
        body["multivariate"] = {
            "variants": [{"key": k, "rollout_percentage": p} for k, p in variants.items()]
        }
    if payloads is not None:
        body["payloads"] = payloads
    if group is not None:
        body["aggregation_group_type_index"] = group
    body.update(filters or {})
    return {"id": 1, "key": key, "active": True, "version": 3, "filters": body, **top}


def flagset(
    *flags: dict[str, Any],
    cohorts: dict[str, Any] | None = None,
    version: int | None = None,
    mapping: dict[str, str] | None = None,
) -> FlagSet:
    data: dict[str, Any] = {
        "flags": list(flags),
        "group_type_mapping": mapping or {"0": "company"},
        "cohorts": cohorts or {},
    }
    if version is not None:
        data["property_matching_version"] = version
    return parse_definitions(data)


def person(distinct_id: str = "user-1", device_id: str | None = None, **props: Any) -> Subject:
    props.setdefault("distinct_id", distinct_id)
    return Subject(distinct_id, device_id=device_id, person_properties=props)


def run(
    definition: dict[str, Any] | FlagSet,
    subject: Subject | None = None,
    *,
    key: str | None = None,
    server_side: bool = False,
    now: datetime = NOW,
) -> Evaluation:
    flags = definition if isinstance(definition, FlagSet) else flagset(definition)
    if key is None:
        key = next(iter(flags.flags))
    return evaluate(flags, key, subject or person(), server_side=server_side, now=now)


def value_of_filter(
    filter_spec: dict[str, Any],
    props: dict[str, Any],
    *,
    version: int | None = None,
    server_side: bool = False,
    now: datetime = NOW,
) -> Any:
    """True/False when conclusive, else the unresolved kind; one filter, one condition."""
    flags = flagset(flag("f", cond(filter_spec)), version=version)
    subject = Subject("user-1", person_properties=props)
    result = evaluate(flags, "f", subject, server_side=server_side, now=now)
    return result.unresolved if result.value is None else result.value


def op(operator: str, value: Any, prop_value: Any = ..., **kw: Any) -> Any:
    """Evaluate ``operator``/``value`` against property ``p`` (``...`` = absent)."""
    props = {} if prop_value is ... else {"p": prop_value}
    return value_of_filter(prop("p", operator, value), props, **kw)


def oracle_hash(key: str, value: str, salt: str = "", sep: str = ".") -> float:
    """Spec 6.1 written directly with hashlib: an oracle independent of the engine."""
    import hashlib

    digest = hashlib.sha1(f"{key}{sep}{value}{salt}".encode()).hexdigest()
    return int(digest[:15], 16) / float(0xFFFFFFFFFFFFFFF)
