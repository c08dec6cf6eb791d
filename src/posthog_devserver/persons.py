"""Pure person and group rules, as PostHog's ingestion applies them.

The store does the I/O; these functions decide. Property updates apply ``$set_once``
(only missing keys), then ``$set`` (overwrite), then ``$unset``. Updates are read
from the event's top level and from inside ``properties`` (PostHog accepts both).
A merge keeps the surviving person's values and fills gaps from the other person
(``$set_once`` semantics), so identifying never overwrites what is known.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_GROUP_TYPES = 5
IDENTIFY = "$identify"
MERGE_DANGEROUSLY = "$merge_dangerously"
ALIAS_EVENTS = ("$create_alias", MERGE_DANGEROUSLY)
GROUP_IDENTIFY = "$groupidentify"


@dataclass(frozen=True)
class PropertyUpdates:
    set: dict[str, Any] = field(default_factory=dict)
    set_once: dict[str, Any] = field(default_factory=dict)
    unset: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.set or self.set_once or self.unset)


NO_UPDATES = PropertyUpdates()


def person_updates(raw: Mapping[str, Any], properties: Mapping[str, Any]) -> PropertyUpdates:
    """Collect ``$set``/``$set_once``/``$unset`` from the event and its properties."""
    if not (
        "$set" in raw
        or "$set" in properties
        or "$set_once" in raw
        or "$set_once" in properties
        or "$unset" in raw
        or "$unset" in properties
    ):
        return NO_UPDATES
    sets: dict[str, Any] = {}
    once: dict[str, Any] = {}
    unset: list[str] = []
    for source in (raw, properties):
        if isinstance(source.get("$set"), dict):
            sets.update(source["$set"])
        if isinstance(source.get("$set_once"), dict):
            for key, value in source["$set_once"].items():
                once.setdefault(key, value)
        unset.extend(_keys(source.get("$unset")))
    return PropertyUpdates(sets, once, tuple(dict.fromkeys(unset)))


def _keys(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, (str, int, float))]
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, str):
        return [value]
    return []


def apply_updates(
    props: Mapping[str, Any], updates: PropertyUpdates
) -> tuple[dict[str, Any], bool]:
    """New properties after the updates, and whether anything changed."""
    result = dict(props)
    for key, value in updates.set_once.items():
        if key not in result:
            result[key] = value
    result.update(updates.set)
    for key in updates.unset:
        result.pop(key, None)
    return result, result != props


def merge_properties(keep: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """The surviving person's values win; the other person's only fill the gaps."""
    return {**other, **keep}


class MergeAction(enum.Enum):
    """What to do with the two distinct ids named by an identify or alias event."""

    CREATE_BOTH = "create_both"  # neither id has a person: one person with both ids
    ADD_OTHER_TO_MAIN = "add_other_to_main"
    ADD_MAIN_TO_OTHER = "add_main_to_other"
    MERGE = "merge"  # two persons: move the other's ids and properties into the main one
    NOTHING = "nothing"  # already one person, or the merge is refused


def decide_merge(
    main_person: int | None,
    other_person: int | None,
    *,
    other_identified: bool,
    dangerous: bool,
) -> MergeAction:
    """PostHog's rule set: an already identified person is never merged away.

    ``$identify`` and ``$create_alias`` both refuse to merge the other id's person when it
    is already identified; only ``$merge_dangerously`` (``dangerous``) merges it anyway.
    """
    if main_person is None and other_person is None:
        return MergeAction.CREATE_BOTH
    if main_person is None:
        return MergeAction.ADD_MAIN_TO_OTHER
    if other_person is None:
        return MergeAction.ADD_OTHER_TO_MAIN
    if main_person == other_person:
        return MergeAction.NOTHING
    if other_identified and not dangerous:
        return MergeAction.NOTHING
    return MergeAction.MERGE


def merge_partner(event: str, distinct_id: str, properties: Mapping[str, Any]) -> str | None:
    """The second distinct id an identify/alias event links to ``distinct_id``, if any."""
    if event == IDENTIFY:
        other = properties.get("$anon_distinct_id")
    elif event in ALIAS_EVENTS:
        other = properties.get("alias")
    else:
        return None
    if isinstance(other, (int, float)) and not isinstance(other, bool):
        other = str(other)
    if not isinstance(other, str) or not other.strip() or other == distinct_id:
        return None
    return other


@dataclass(frozen=True)
class GroupIdentify:
    group_type: str
    group_key: str
    group_set: dict[str, Any]


def group_identify(event: str, properties: Mapping[str, Any]) -> GroupIdentify | None:
    """The group a ``$groupidentify`` event describes, or None when it names none."""
    if event != GROUP_IDENTIFY:
        return None
    group_type, key = properties.get("$group_type"), properties.get("$group_key")
    if not isinstance(group_type, str) or not group_type:
        return None
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str) or not key:
        return None
    group_set = properties.get("$group_set")
    return GroupIdentify(group_type, key, dict(group_set) if isinstance(group_set, dict) else {})


def group_types_in(event: str, properties: Mapping[str, Any]) -> list[str]:
    """Group types an event mentions (``$groups`` and ``$groupidentify``), in order."""
    groups = properties.get("$groups")
    if not groups and event != GROUP_IDENTIFY:
        return []
    found: list[str] = []
    if isinstance(groups, dict):
        found.extend(str(t) for t in groups if t)
    ident = group_identify(event, properties)
    if ident is not None:
        found.append(ident.group_type)
    return list(dict.fromkeys(found))


def next_group_type_index(used: Mapping[str, int]) -> int | None:
    """The lowest free index, or None when the project already has the maximum (5)."""
    taken = set(used.values())
    for index in range(MAX_GROUP_TYPES):
        if index not in taken:
            return index
    return None
