"""Value types shared by the model and the evaluator.

Kept apart from ``evaluator.py`` so that ``model.py`` can precompute ``Evaluation``
objects at parse time (building frozen dataclasses is the slowest part of a hot
evaluation) without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = [
    "DEPENDENCY",
    "EXPERIENCE_CONTINUITY",
    "MISSING",
    "REQUIRES_SERVER",
    "UNSUPPORTED",
    "Evaluation",
    "MatchResult",
    "Reason",
    "Subject",
    "Unresolved",
    "missing_flag",
]

EXPERIENCE_CONTINUITY = "experience_continuity"
UNSUPPORTED = "unsupported_definition"
DEPENDENCY = "unresolved_dependency"
MISSING = "missing_context"
REQUIRES_SERVER = "requires_server"

# Lower rank wins when several conditions were inconclusive (spec 6.2c).
_RANK = {EXPERIENCE_CONTINUITY: 0, UNSUPPORTED: 1, DEPENDENCY: 2, MISSING: 3, REQUIRES_SERVER: 4}


class Reason(str, Enum):
    """Why a flag has its value; the string values are stable and may be sent on the wire."""

    CONDITION_MATCH = "condition_match"
    NO_CONDITION_MATCH = "no_condition_match"
    OUT_OF_ROLLOUT_BOUND = "out_of_rollout_bound"
    DISABLED = "disabled"
    HOLDOUT = "holdout"
    FEATURE_ENROLLMENT = "feature_enrollment"
    GROUP_NOT_PASSED = "group_not_passed"
    INCONCLUSIVE = "inconclusive"
    FLAG_MISSING = "flag_missing"


class Unresolved:
    """A filter, condition or flag that local evaluation cannot decide.

    Returned (never raised) by matchers: a tri-state ``True | False | Unresolved`` is
    cheaper than exceptions and keeps the reason attached to the value.
    """

    __slots__ = ("description", "kind", "rank")

    def __init__(self, kind: str, description: str) -> None:
        self.kind = kind
        self.description = description
        self.rank = _RANK.get(kind, 9)

    def __repr__(self) -> str:
        return f"Unresolved({self.kind!r}, {self.description!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Unresolved)
            and other.kind == self.kind
            and other.description == self.description
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.description))


MatchResult = bool | Unresolved


def better(current: Unresolved | None, candidate: Unresolved) -> Unresolved:
    """Keep the unresolved reason with the highest precedence (first one on ties)."""
    if current is None or candidate.rank < current.rank:
        return candidate
    return current


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a flag is evaluated for; person properties already include ``distinct_id``."""

    distinct_id: str
    device_id: str | None = None
    groups: Mapping[str, str] = field(default_factory=dict)
    person_properties: Mapping[str, Any] = field(default_factory=dict)
    group_properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of evaluating one flag for one subject."""

    key: str
    value: bool | str | None
    payload: str | None
    reason: Reason
    condition_index: int | None
    description: str
    unresolved: str | None
    flag_id: int | None
    flag_version: int | None
    has_experiment: bool | None

    @property
    def inconclusive(self) -> bool:
        """True when the caller should ask the server instead."""
        return self.reason is Reason.INCONCLUSIVE


def missing_flag(key: str) -> Evaluation:
    """The result for a key with no loaded definition."""
    return Evaluation(
        key, None, None, Reason.FLAG_MISSING, None, "Flag not found", None, None, None, None
    )
