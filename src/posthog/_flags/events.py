"""``$feature_flag_called`` (spec 5.5): the properties (pure); the dedupe LRU is in
:mod:`posthog._flags.dedupe` (re-exported here).

The client sends the event through its normal capture path; this module only decides
what the event says and whether this (distinct id, flag, value, groups) was seen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from posthog._flags.dedupe import CalledDedupe, dedupe_key
from posthog.types import FlagRecord

__all__ = [
    "CalledDedupe",
    "FlagCalled",
    "called_properties",
    "dedupe_key",
    "event_flag_properties",
    "single_read_exposure",
]

# Kept when the server asks for minimal events and the flag has no experiment.
MINIMAL_KEYS = frozenset(
    {
        "$feature_flag",
        "$feature_flag_response",
        "$feature_flag_has_experiment",
        "$feature_flag_id",
        "$feature_flag_version",
        "$feature_flag_reason",
        "$feature_flag_request_id",
        "$feature_flag_evaluated_at",
        "$feature_flag_error",
        "locally_evaluated",
        "$groups",
        "$process_person_profile",
        "$session_id",
        "$lib",
        "$lib_version",
        "$is_server",
        "$geoip_disable",
        "$os",
        "$os_version",
        "$os_distro",
        "$python_runtime",
        "$python_version",
    }
)


@dataclass(frozen=True, slots=True)
class FlagCalled:
    """Everything one flag read knows that the event reports."""

    key: str
    value: bool | str | None
    payload: Any  # decoded
    locally_evaluated: bool
    reason: str | None = None
    reason_code: str | None = None
    condition_index: int | None = None
    error: str | None = None
    flag_id: int | None = None
    version: int | None = None
    has_experiment: bool | None = None
    request_id: str | None = None
    evaluated_at: int | None = None
    minimal: bool = False


def called_properties(read: FlagCalled) -> dict[str, Any]:
    """The event properties of one ``$feature_flag_called``."""
    props: dict[str, Any] = {
        "$feature_flag": read.key,
        "$feature_flag_response": read.value,
        f"$feature/{read.key}": read.value,
        "locally_evaluated": read.locally_evaluated,
    }
    if read.payload is not None:
        props["$feature_flag_payload"] = read.payload
    if read.request_id is not None:
        props["$feature_flag_request_id"] = read.request_id
    if read.evaluated_at is not None:
        props["$feature_flag_evaluated_at"] = read.evaluated_at
    if read.reason:
        props["$feature_flag_reason"] = read.reason
    if read.reason_code:
        props["$feature_flag_reason_code"] = read.reason_code
    if read.condition_index is not None:
        props["$feature_flag_condition_index"] = read.condition_index
    if read.version:
        props["$feature_flag_version"] = read.version
    if read.flag_id:
        props["$feature_flag_id"] = read.flag_id
    if read.error:
        props["$feature_flag_error"] = read.error
    if read.has_experiment is not None:
        props["$feature_flag_has_experiment"] = read.has_experiment
    if read.minimal and read.has_experiment is False:
        props = {k: v for k, v in props.items() if k in MINIMAL_KEYS}
    return props


def single_read_exposure(record: FlagRecord) -> FlagRecord:
    """What a single-flag read reports (spec 5.5). A local record without a value means
    the call stayed local (``only_evaluate_locally``, file definitions) and nothing
    decided the flag: nothing was evaluated, so the event says ``locally_evaluated:
    false`` and carries no ``$feature_flag_error`` (the returned result keeps both)."""
    if record.locally_evaluated and record.value is None:
        return dataclasses.replace(record, locally_evaluated=False, error=None)
    return record


def event_flag_properties(values: Mapping[str, Any]) -> dict[str, Any]:
    """``capture(send_feature_flags=...)``: ``$feature/<key>`` for every resolved flag and
    ``$active_feature_flags`` (enabled keys, in order; omitted when empty)."""
    props: dict[str, Any] = {}
    active = []
    for key, value in values.items():
        if value is None:
            continue
        props[f"$feature/{key}"] = value
        if value is not False:
            active.append(key)
    if active:
        props["$active_feature_flags"] = active
    return props
